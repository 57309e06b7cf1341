"""A stand-in for a ConductorOne tenant on loopback: the token endpoint, the BatonService task
API (gRPC, plaintext on 127.0.0.1) and a small JSON control API to drive it.

Used by tests, the demo and benchmarks; production code never imports it. It checks what a
real tenant would check (assertion signature, audience, validity window, bearer tokens,
upload checksums, the c1z format) so that the production client is exercised for real.

    with C1Sandbox(lease_timeout_s=1) as c1:
        client_id, client_secret = c1.register_client()
        task_id = c1.enqueue_sync_full()
        ...  # point TokenSource at c1.token_url and BatonClient at c1.grpc_target
        c1.uploads(task_id), c1.finished(task_id)
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import sqlite3
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent import futures
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import grpc
import httpx
import zstandard
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from google.protobuf import any_pb2, duration_pb2, json_format, struct_pb2
from google.protobuf.message import Message

from litmos_pipeline.c1 import ids
from litmos_pipeline.c1.credentials import (
    ASSERTION_TYPE,
    TOKEN_PATH,
    TokenSource,
    b64url_decode,
    generate_client_credentials,
    parse_client_id,
    parse_client_secret,
)
from litmos_pipeline.c1.ksuid import new_ksuid
from litmos_pipeline.c1.proto import baton_v1_pb2 as baton
from litmos_pipeline.c1.proto import baton_v1_pb2_grpc as baton_grpc
from litmos_pipeline.c1.proto import connector_v2_pb2 as v2

SANDBOX_TENANT_HOST = "sandbox.conductor.one"
CONTROL_PREFIX = "/_sandbox"
C1Z_MAGIC = b"C1ZF\x00"
SQLITE_MAGIC = b"SQLite format 3\x00"
MAX_CHUNK_BYTES = 1024 * 1024  # the public schema's per-message limit
# Assertions are signed for a short window; refuse ones claiming a long life.
MAX_ASSERTION_WINDOW_S = 10 * 60
CLOCK_LEEWAY_S = 5.0

TASK_PENDING = "pending"
TASK_LEASED = "leased"
TASK_FINISHED = "finished"
TASK_CANCELLED = "cancelled"  # cancelled before anyone held it, or its lease lapsed after

# Faults the sandbox can inject, as a real tenant (or what sits in front of it) fails.
GRPC_FAULT_METHODS = ("Hello", "GetTask", "Heartbeat", "FinishTask", "UploadAsset")
TOKEN_FAULT_KINDS = ("500", "down")  # down: the connection is closed unanswered


# --- records -----------------------------------------------------------------------------------


@dataclass
class SandboxTask:
    """A task in the sandbox queue (snapshots are handed out; the live one stays inside)."""

    task_id: str
    kind: str
    message: baton.Task
    seq: int
    created_at: float
    state: str = TASK_PENDING
    host_id: str | None = None
    lease_expires_at: float = 0.0
    offers: int = 0
    heartbeats: int = 0
    cancel_requested: bool = False
    cancel_delivered: bool = False


@dataclass(frozen=True)
class FinishRecord:
    """One FinishTask call, accepted or not."""

    task_id: str
    host_id: str
    outcome: str  # 'success' | 'error' | 'invalid'
    non_retryable: bool
    response: any_pb2.Any | None
    status_code: int
    status_message: str
    at: float
    accepted: bool
    reason: str = ""


@dataclass(frozen=True)
class UploadRecord:
    """An accepted upload: the c1z as received, stored under the sandbox's data dir."""

    task_id: str
    host_id: str
    path: Path
    size: int
    sha256: str
    tables: tuple[str, ...]
    row_counts: dict[str, int]
    at: float


@dataclass(frozen=True)
class Event:
    at: float
    kind: str
    task_id: str = ""
    detail: str = ""


@dataclass
class _Client:
    client_id: str
    tenant_host: str
    public_key: Ed25519PublicKey = field(repr=False)


@dataclass
class _IssuedToken:
    client_id: str
    expires_at: float


class C1zRejected(ValueError):
    """The uploaded bytes are not a readable c1z."""


class _AuthError(Exception):
    def __init__(self, status: int, error: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.error = error
        self.reason = reason


# --- id-based message builders ----------------------------------------------------------------


def _resource(resource_type: str, resource_id: str) -> v2.Resource:
    return v2.Resource(id=v2.ResourceId(resource_type=resource_type, resource=resource_id))


def entitlement_from_id(entitlement_id: str) -> v2.Entitlement:
    """An Entitlement message as C1 would send it, built from `<type>:<id>:<slug>`."""
    ref = ids.parse_entitlement_id(entitlement_id)
    return v2.Entitlement(
        id=entitlement_id,
        slug=ref.slug,
        display_name=f"{ref.resource_type} {ref.resource_id} {ref.slug}",
        resource=_resource(ref.resource_type, ref.resource_id),
        purpose=v2.Entitlement.PURPOSE_VALUE_ASSIGNMENT,
        grantable_to=[
            v2.ResourceType(id=ids.RESOURCE_TYPE_USER, traits=[v2.ResourceType.TRAIT_USER])
        ],
    )


def principal_from(value: v2.Resource | str | tuple[str, str]) -> v2.Resource:
    """A principal Resource from a message, `'user:u42'` or `('user', 'u42')`."""
    if isinstance(value, v2.Resource):
        return value
    if isinstance(value, tuple):
        return _resource(*value)
    return _resource(*ids.parse_resource_external_id(value))


def grant_from_id(grant_id: str) -> v2.Grant:
    """A Grant message from `<entitlement_id>:<principal_type>:<principal_id>`."""
    ref = ids.parse_grant_id(grant_id)
    return v2.Grant(
        id=grant_id,
        entitlement=entitlement_from_id(ref.entitlement.id),
        principal=_resource(ref.principal_type, ref.principal_id),
    )


# --- c1z inspection ---------------------------------------------------------------------------


def inspect_c1z(path: Path, scratch_dir: Path) -> tuple[tuple[str, ...], dict[str, int]]:
    """Check magic, zstd stream and SQLite; return (table names, row counts of v1_* tables)."""
    with path.open("rb") as fh:
        if fh.read(len(C1Z_MAGIC)) != C1Z_MAGIC:
            raise C1zRejected("not a c1z: the file does not start with the C1ZF magic")
        db_path = Path(tempfile.mkstemp(prefix="c1z-", suffix=".db", dir=scratch_dir)[1])
        try:
            try:
                with db_path.open("wb") as out:
                    zstandard.ZstdDecompressor().copy_stream(fh, out)
            except zstandard.ZstdError as exc:
                raise C1zRejected(f"not a c1z: the body is not a zstd stream ({exc})") from None
            return _inspect_sqlite(db_path)
        finally:
            db_path.unlink(missing_ok=True)


def _inspect_sqlite(db_path: Path) -> tuple[tuple[str, ...], dict[str, int]]:
    with db_path.open("rb") as fh:
        if fh.read(len(SQLITE_MAGIC)) != SQLITE_MAGIC:
            raise C1zRejected("not a c1z: the zstd body is not a SQLite database")
    try:
        conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
        try:
            rows = conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
            ).fetchall()
            tables = tuple(str(r[0]) for r in rows)
            counts = {
                t: int(conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0])
                for t in tables
                if t.startswith("v1_")
            }
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise C1zRejected(f"not a c1z: the SQLite database cannot be read ({exc})") from None
    return tables, counts


# --- the sandbox ------------------------------------------------------------------------------


class C1Sandbox:
    """Token endpoint + BatonService + control API on 127.0.0.1 free ports.

    All state sits behind one lock; leases lapse lazily (checked on every call), so there is
    no background thread besides the two servers.
    """

    def __init__(
        self,
        *,
        tenant_host: str = SANDBOX_TENANT_HOST,
        token_lifetime_s: int = 3600,
        lease_timeout_s: float = 30.0,
        next_poll_s: float = 1.0,
        next_heartbeat_s: float = 5.0,
        requeue_retryable_errors: bool = False,
        data_dir: str | Path | None = None,
        clock: Callable[[], float] = time.time,
        http_port: int = 0,
        grpc_port: int = 0,
    ) -> None:
        self.tenant_host = tenant_host
        self.token_lifetime_s = token_lifetime_s
        self.lease_timeout_s = lease_timeout_s
        self.next_poll_s = next_poll_s
        self.next_heartbeat_s = next_heartbeat_s
        self.requeue_retryable_errors = requeue_retryable_errors
        self._clock = clock
        self._http_port = http_port
        self._grpc_port = grpc_port
        self._owns_data_dir = data_dir is None
        self._data_dir = Path(data_dir) if data_dir else None
        self._lock = threading.RLock()
        self._clients: dict[str, _Client] = {}
        self._tokens: dict[str, _IssuedToken] = {}
        self._seen_nonces: dict[str, float] = {}
        self._tasks: dict[str, SandboxTask] = {}
        self._seq = 0
        self._finishes: list[FinishRecord] = []
        self._uploads: list[UploadRecord] = []
        self._upload_seq = 0
        self._hellos: list[baton.BatonServiceHelloRequest] = []
        self._events: list[Event] = []
        self._reject_uploads: list[tuple[grpc.StatusCode, str]] = []
        self._cut_uploads = 0
        self._grpc_faults: dict[str, list[grpc.StatusCode]] = {}
        self._token_faults: list[str] = []
        self._http: ThreadingHTTPServer | None = None
        self._http_thread: threading.Thread | None = None
        self._grpc: grpc.Server | None = None
        self._grpc_bound_port = 0

    # --- lifecycle ---

    def start(self) -> C1Sandbox:
        if self._http is not None:
            return self
        if self._data_dir is None:
            self._data_dir = Path(tempfile.mkdtemp(prefix="c1-sandbox-"))
        for sub in ("uploads", "incoming", "scratch"):
            (self._data_dir / sub).mkdir(parents=True, exist_ok=True)
        self._start_grpc()
        try:
            self._start_http()
        except BaseException:
            self._stop_grpc()
            raise
        return self

    def stop(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
        if self._http_thread is not None:
            self._http_thread.join(timeout=5)
            self._http_thread = None
        self._stop_grpc()
        if self._owns_data_dir and self._data_dir is not None:
            shutil.rmtree(self._data_dir, ignore_errors=True)
            self._data_dir = None

    def __enter__(self) -> C1Sandbox:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def _start_grpc(self) -> None:
        server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=16, thread_name_prefix="c1-sandbox-grpc"),
            options=[("grpc.max_receive_message_length", 8 * 1024 * 1024)],
        )
        baton_grpc.add_BatonServiceServicer_to_server(_BatonServicer(self), server)
        port = server.add_insecure_port(f"127.0.0.1:{self._grpc_port}")
        if port == 0:
            raise RuntimeError(f"could not bind the sandbox gRPC port 127.0.0.1:{self._grpc_port}")
        server.start()
        self._grpc, self._grpc_bound_port = server, port

    def _stop_grpc(self) -> None:
        if self._grpc is not None:
            self._grpc.stop(grace=0.1).wait(5)
            self._grpc = None

    def _start_http(self) -> None:
        sandbox = self

        class Handler(_HttpHandler):
            owner = sandbox

        self._http = ThreadingHTTPServer(("127.0.0.1", self._http_port), Handler)
        self._http.daemon_threads = True
        self._http_thread = threading.Thread(
            # A short poll interval keeps stop() (and so every test teardown) quick.
            target=self._http.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="c1-sandbox-http",
            daemon=True,
        )
        self._http_thread.start()

    # --- addresses ---

    @property
    def api_url(self) -> str:
        if self._http is None:
            raise RuntimeError("the C1 sandbox is not running")
        return f"http://127.0.0.1:{self._http.server_address[1]}"

    @property
    def token_url(self) -> str:
        return self.api_url + TOKEN_PATH

    @property
    def grpc_target(self) -> str:
        if self._grpc is None:
            raise RuntimeError("the C1 sandbox is not running")
        return f"127.0.0.1:{self._grpc_bound_port}"

    @property
    def data_dir(self) -> Path:
        if self._data_dir is None:
            raise RuntimeError("the C1 sandbox is not running")
        return self._data_dir

    # --- conveniences for tests and the demo ---

    def token_source(self, client_id: str, client_secret: str, **kwargs: Any) -> TokenSource:
        return TokenSource(client_id, client_secret, self.token_url, **kwargs)

    # --- clients and tokens ---

    def register_client(self, name: str = "sandbox") -> tuple[str, str]:
        """Create a client for this tenant; returns (client_id, client_secret)."""
        client_id, client_secret = generate_client_credentials(
            self.tenant_host, name=f"{name}-{secrets.token_hex(3)}"
        )
        self.add_client(client_id, parse_client_secret(client_secret).public_key())
        return client_id, client_secret

    def add_client(self, client_id: str, public_key: Ed25519PublicKey) -> None:
        """Register a client whose key was made elsewhere (e.g. a deliberately wrong pair)."""
        parsed = parse_client_id(client_id)
        with self._lock:
            self._clients[client_id] = _Client(client_id, parsed.tenant_host, public_key)
            self._event("client_registered", detail=client_id)

    def revoke_tokens(self) -> None:
        """Forget every issued token: the next call with one gets UNAUTHENTICATED."""
        with self._lock:
            self._tokens.clear()
            self._event("tokens_revoked")

    def issue_token(self, form: dict[str, str]) -> dict[str, Any]:
        """The token endpoint's logic: verify the client assertion, mint an opaque token."""
        now = self._clock()
        with self._lock:
            client_id = self._verify_token_request(form, now)
            token = secrets.token_urlsafe(32)
            self._tokens[token] = _IssuedToken(client_id, now + self.token_lifetime_s)
            self._event("token_issued", detail=client_id)
        return {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": self.token_lifetime_s,
        }

    def _verify_token_request(self, form: dict[str, str], now: float) -> str:
        if form.get("grant_type") != "client_credentials":
            raise _AuthError(400, "unsupported_grant_type", "grant_type must be client_credentials")
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            raise _AuthError(400, "invalid_request", "wrong client_assertion_type")
        client_id = form.get("client_id", "")
        assertion = form.get("client_assertion", "")
        if not client_id or not assertion:
            raise _AuthError(400, "invalid_request", "client_id and client_assertion required")
        client = self._clients.get(client_id)
        if client is None:
            raise _AuthError(401, "invalid_client", "unknown client")
        header, claims = _verify_jwt(assertion, client.public_key)
        self._check_claims(client, header, claims, now)
        return client_id

    def _check_claims(
        self, client: _Client, header: dict[str, Any], claims: dict[str, Any], now: float
    ) -> None:
        if claims.get("iss") != client.client_id or claims.get("sub") != client.client_id:
            raise _AuthError(401, "invalid_client", "iss/sub must be the client id")
        aud = claims.get("aud")
        audiences = aud if isinstance(aud, list) else [aud]
        if client.tenant_host.split(":", 1)[0] not in audiences:
            raise _AuthError(401, "invalid_client", "wrong audience")
        nbf, exp = claims.get("nbf"), claims.get("exp")
        if not isinstance(nbf, int | float) or not isinstance(exp, int | float):
            raise _AuthError(401, "invalid_client", "nbf and exp are required")
        if exp - nbf > MAX_ASSERTION_WINDOW_S:
            raise _AuthError(401, "invalid_client", "assertion validity window too long")
        if now + CLOCK_LEEWAY_S < nbf:
            raise _AuthError(401, "invalid_client", "assertion not yet valid")
        if now - CLOCK_LEEWAY_S > exp:
            raise _AuthError(401, "invalid_client", "assertion expired")
        nonce = header.get("nonce") or claims.get("jti")
        if isinstance(nonce, str) and nonce:
            self._seen_nonces = {n: t for n, t in self._seen_nonces.items() if t >= now}
            if nonce in self._seen_nonces:
                raise _AuthError(401, "invalid_client", "assertion replayed")
            self._seen_nonces[nonce] = float(exp) + CLOCK_LEEWAY_S

    def authenticate(self, authorization: str) -> str:
        """The client id behind a bearer token; raises _AuthError if unknown or expired."""
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _AuthError(401, "invalid_token", "missing bearer token")
        with self._lock:
            issued = self._tokens.get(token.strip())
            if issued is None:
                raise _AuthError(401, "invalid_token", "unknown bearer token")
            if self._clock() >= issued.expires_at:
                del self._tokens[token.strip()]
                raise _AuthError(401, "invalid_token", "expired bearer token")
            return issued.client_id

    # --- task queue ---

    def enqueue_sync_full(self) -> str:
        return self._enqueue("sync_full", baton.Task(sync_full=baton.Task.SyncFullTask()))

    def enqueue_grant(
        self,
        entitlement: v2.Entitlement | str,
        principal: v2.Resource | str | tuple[str, str],
    ) -> str:
        """A grant task; ids are accepted for convenience (`'course:c1:assigned'`, `'user:u1'`)."""
        ent = (
            entitlement
            if isinstance(entitlement, v2.Entitlement)
            else (entitlement_from_id(entitlement))
        )
        task = baton.Task(
            grant=baton.Task.GrantTask(entitlement=ent, principal=principal_from(principal))
        )
        return self._enqueue("grant", task)

    def enqueue_revoke(self, grant: v2.Grant | str) -> str:
        msg = grant if isinstance(grant, v2.Grant) else grant_from_id(grant)
        return self._enqueue("revoke", baton.Task(revoke=baton.Task.RevokeTask(grant=msg)))

    def enqueue_create_account(
        self,
        login: str,
        email: str,
        given_name: str,
        family_name: str,
        *,
        profile: dict[str, Any] | None = None,
        resource_type_id: str = ids.RESOURCE_TYPE_USER,
    ) -> str:
        """A create_account task. The profile carries login/email/given_name/family_name
        plus anything in `profile` (C1 sends the connector's account schema fields there)."""
        fields: dict[str, Any] = {
            "login": login,
            "email": email,
            "given_name": given_name,
            "family_name": family_name,
        }
        fields.update(profile or {})
        struct = struct_pb2.Struct()
        struct.update(fields)
        info = v2.AccountInfo(
            emails=[v2.AccountInfo.Email(address=email, is_primary=True)],
            login=login,
            profile=struct,
        )
        task = baton.Task(
            create_account=baton.Task.CreateAccountTask(
                account_info=info,
                credential_options=v2.CredentialOptions(
                    no_password=v2.CredentialOptions.NoPassword()
                ),
                resource_type_id=resource_type_id,
            )
        )
        return self._enqueue("create_account", task)

    def enqueue_task(self, task: baton.Task) -> str:
        """Queue any Task message (its id is replaced by a fresh one)."""
        kind = task.WhichOneof("task_type")
        if kind is None:
            raise ValueError("the task has no task_type set")
        return self._enqueue(kind, copy.deepcopy(task))

    def _enqueue(self, kind: str, task: baton.Task) -> str:
        with self._lock:
            task_id = new_ksuid(self._clock())
            task.id = task_id
            task.status = baton.Task.STATUS_PENDING
            self._seq += 1
            self._tasks[task_id] = SandboxTask(
                task_id=task_id, kind=kind, message=task, seq=self._seq, created_at=self._clock()
            )
            self._event("task_enqueued", task_id, kind)
            return task_id

    def cancel(self, task_id: str) -> None:
        """Ask for the task to stop: its next Heartbeat answers cancelled; it is not re-offered."""
        with self._lock:
            task = self._require_task(task_id)
            if task.state == TASK_FINISHED:
                raise ValueError(f"task {task_id} is already finished")
            task.cancel_requested = True
            if task.state == TASK_PENDING:
                task.state = TASK_CANCELLED
            self._event("cancel_requested", task_id)

    def reject_next_uploads(
        self, count: int = 1, *, code: grpc.StatusCode = grpc.StatusCode.DATA_LOSS
    ) -> None:
        """Make the next `count` uploads fail (as a checksum rejection by default)."""
        with self._lock:
            self._reject_uploads.extend([(code, "upload rejected by the sandbox switch")] * count)

    def fail_next_calls(
        self, method: str, count: int = 1, *, code: grpc.StatusCode = grpc.StatusCode.UNAVAILABLE
    ) -> None:
        """Answer the next `count` calls of a BatonService method with `code` (before any
        other check, as a load balancer with no healthy backend answers UNAVAILABLE)."""
        if method not in GRPC_FAULT_METHODS:
            raise ValueError(f"method must be one of {GRPC_FAULT_METHODS}, got {method!r}")
        with self._lock:
            self._grpc_faults.setdefault(method, []).extend([code] * count)

    def fail_next_token_requests(self, count: int = 1, kind: str = "500") -> None:
        """The next `count` token requests get HTTP 500, or (`down`) a closed connection."""
        if kind not in TOKEN_FAULT_KINDS:
            raise ValueError(f"kind must be one of {TOKEN_FAULT_KINDS}, got {kind!r}")
        with self._lock:
            self._token_faults.extend([kind] * count)

    def cut_next_uploads(self, count: int = 1) -> None:
        """Reset the next `count` upload streams half way: after their first data chunk,
        before eof (nothing is stored)."""
        with self._lock:
            self._cut_uploads += count

    def _take_grpc_fault(self, method: str) -> grpc.StatusCode | None:
        with self._lock:
            queue = self._grpc_faults.get(method)
            if not queue:
                return None
            self._event("fault_injected", detail=f"{method} {queue[0].name}")
            return queue.pop(0)

    def _take_token_fault(self) -> str | None:
        with self._lock:
            if not self._token_faults:
                return None
            kind = self._token_faults.pop(0)
            self._event("fault_injected", detail=f"token {kind}")
            return kind

    def _take_upload_cut(self) -> bool:
        with self._lock:
            if self._cut_uploads <= 0:
                return False
            self._cut_uploads -= 1
            self._event("fault_injected", detail="UploadAsset stream reset")
            return True

    def _require_task(self, task_id: str) -> SandboxTask:
        task = self._tasks.get(task_id)
        if task is None:
            raise KeyError(f"no task {task_id!r} in the C1 sandbox")
        return task

    def _sweep_leases(self, now: float) -> None:
        for task in self._tasks.values():
            if task.state == TASK_LEASED and now >= task.lease_expires_at:
                task.state = TASK_CANCELLED if task.cancel_requested else TASK_PENDING
                self._event("lease_expired", task.task_id, task.host_id or "")
                task.host_id = None

    # --- inspection ---

    def task(self, task_id: str) -> SandboxTask:
        with self._lock:
            self._sweep_leases(self._clock())
            return _snapshot(self._require_task(task_id))

    def tasks(self) -> list[SandboxTask]:
        with self._lock:
            self._sweep_leases(self._clock())
            return [_snapshot(t) for t in sorted(self._tasks.values(), key=lambda t: t.seq)]

    def finished(self, task_id: str) -> FinishRecord | None:
        """The accepted FinishTask for the task, or None while it is unfinished."""
        with self._lock:
            for record in reversed(self._finishes):
                if record.task_id == task_id and record.accepted:
                    return record
            return None

    @property
    def finishes(self) -> list[FinishRecord]:
        with self._lock:
            return list(self._finishes)

    def uploads(self, task_id: str | None = None) -> list[UploadRecord]:
        with self._lock:
            return [u for u in self._uploads if task_id is None or u.task_id == task_id]

    @property
    def hellos(self) -> list[baton.BatonServiceHelloRequest]:
        with self._lock:
            return [copy.deepcopy(h) for h in self._hellos]

    @property
    def events(self) -> list[Event]:
        with self._lock:
            return list(self._events)

    def _event(self, kind: str, task_id: str = "", detail: str = "") -> None:
        self._events.append(Event(self._clock(), kind, task_id, detail))

    # --- BatonService logic (called by the servicer, with auth already checked) ---

    def _get_task(self, host_id: str) -> baton.BatonServiceGetTaskResponse:
        now = self._clock()
        resp = baton.BatonServiceGetTaskResponse(
            next_poll=_duration(self.next_poll_s), next_heartbeat=_duration(self.next_heartbeat_s)
        )
        with self._lock:
            self._sweep_leases(now)
            pending = [t for t in self._tasks.values() if t.state == TASK_PENDING]
            if not pending:
                resp.task.CopyFrom(baton.Task(none=baton.Task.NoneTask()))
                return resp
            task = min(pending, key=lambda t: t.seq)
            task.state = TASK_LEASED
            task.host_id = host_id
            task.lease_expires_at = now + self.lease_timeout_s
            task.offers += 1
            task.message.status = baton.Task.STATUS_RUNNING
            self._event("task_offered", task.task_id, host_id)
            resp.task.CopyFrom(task.message)
        return resp

    def _heartbeat(
        self, host_id: str, task_id: str, context: grpc.ServicerContext
    ) -> baton.BatonServiceHeartbeatResponse:
        now = self._clock()
        resp = baton.BatonServiceHeartbeatResponse(next_heartbeat=_duration(self.next_heartbeat_s))
        with self._lock:
            self._sweep_leases(now)
            task = self._tasks.get(task_id)
            if task is None:
                context.abort(grpc.StatusCode.NOT_FOUND, f"no task {task_id}")
            if task.state == TASK_FINISHED:
                context.abort(grpc.StatusCode.FAILED_PRECONDITION, f"task {task_id} is finished")
            task.heartbeats += 1
            held_elsewhere = task.state == TASK_LEASED and task.host_id != host_id
            if task.cancel_requested or held_elsewhere:
                # Another host owns it now, or C1 wants it stopped: tell this worker to stop.
                resp.cancelled = True
                task.cancel_delivered = task.cancel_delivered or task.cancel_requested
                self._event("heartbeat_cancelled", task_id, host_id)
                return resp
            # A late heartbeat after the lease lapsed, but before anyone else took the task,
            # reclaims it: the worker is evidently still on it.
            task.state = TASK_LEASED
            task.host_id = host_id
            task.lease_expires_at = now + self.lease_timeout_s
            self._event("heartbeat", task_id, host_id)
        return resp

    def _finish(
        self, request: baton.BatonServiceFinishTaskRequest, context: grpc.ServicerContext
    ) -> None:
        now = self._clock()
        outcome = request.WhichOneof("final_state") or "invalid"
        response: any_pb2.Any | None = None
        non_retryable = False
        if outcome == "success" and request.success.HasField("response"):
            response = copy.deepcopy(request.success.response)
        elif outcome == "error":
            non_retryable = request.error.non_retryable
            if request.error.HasField("response"):
                response = copy.deepcopy(request.error.response)
        with self._lock:
            task = self._tasks.get(request.task_id)
            reason = ""
            code: grpc.StatusCode | None = None
            if outcome == "invalid":
                reason, code = (
                    "final_state (success or error) is required",
                    (grpc.StatusCode.INVALID_ARGUMENT),
                )
            elif task is None:
                reason, code = f"no task {request.task_id}", grpc.StatusCode.NOT_FOUND
            elif task.state == TASK_FINISHED:
                reason, code = "task already finished", grpc.StatusCode.FAILED_PRECONDITION
            self._finishes.append(
                FinishRecord(
                    task_id=request.task_id,
                    host_id=request.host_id,
                    outcome=outcome,
                    non_retryable=non_retryable,
                    response=response,
                    status_code=request.status.code,
                    status_message=request.status.message,
                    at=now,
                    accepted=code is None,
                    reason=reason,
                )
            )
            if code is not None:
                self._event("finish_rejected", request.task_id, reason)
                context.abort(code, reason)
            assert task is not None
            requeue = (
                outcome == "error"
                and not non_retryable
                and self.requeue_retryable_errors
                and not task.cancel_requested
            )
            task.state = TASK_PENDING if requeue else TASK_FINISHED
            task.host_id = None
            task.message.status = (
                baton.Task.STATUS_PENDING if requeue else baton.Task.STATUS_FINISHED
            )
            self._event("task_requeued" if requeue else "task_finished", task.task_id, outcome)

    def _upload(
        self,
        requests: Iterator[baton.BatonServiceUploadAssetRequest],
        context: grpc.ServicerContext,
    ) -> None:
        first = next(requests, None)
        if first is None or first.WhichOneof("msg") != "metadata":
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "the first message must be metadata")
        task_id, host_id = first.metadata.task_id, first.metadata.host_id
        with self._lock:
            task = self._tasks.get(task_id)
            if task is None:
                context.abort(grpc.StatusCode.NOT_FOUND, f"no task {task_id}")
            if task.state == TASK_FINISHED or task.kind != "sync_full":
                context.abort(
                    grpc.StatusCode.FAILED_PRECONDITION,
                    f"task {task_id} does not accept uploads ({task.kind}, {task.state})",
                )
        incoming = Path(
            tempfile.mkstemp(prefix=f"{task_id}-", suffix=".c1z", dir=self.data_dir / "incoming")[1]
        )
        cut = self._take_upload_cut()
        try:
            size, digest, claimed = _receive_upload(requests, incoming, context, cut=cut)
            record = self._check_upload(task_id, host_id, incoming, size, digest, claimed, context)
        except BaseException:
            incoming.unlink(missing_ok=True)
            raise
        with self._lock:
            self._uploads.append(record)
            self._event("upload_accepted", task_id, f"{size} bytes sha256={digest.hex()}")

    def _check_upload(
        self,
        task_id: str,
        host_id: str,
        incoming: Path,
        size: int,
        digest: bytes,
        claimed: bytes,
        context: grpc.ServicerContext,
    ) -> UploadRecord:
        with self._lock:
            injected = self._reject_uploads.pop(0) if self._reject_uploads else None
        if injected is not None:
            self._reject(task_id, context, injected[0], injected[1])
        if claimed != digest:
            self._reject(
                task_id, context, grpc.StatusCode.DATA_LOSS, "sha256 checksum does not match"
            )
        try:
            tables, counts = inspect_c1z(incoming, self.data_dir / "scratch")
        except C1zRejected as exc:
            self._reject(task_id, context, grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        with self._lock:
            self._upload_seq += 1
            final = self.data_dir / "uploads" / f"{task_id}-{self._upload_seq}.c1z"
        incoming.replace(final)
        return UploadRecord(
            task_id=task_id,
            host_id=host_id,
            path=final,
            size=size,
            sha256=digest.hex(),
            tables=tables,
            row_counts=counts,
            at=self._clock(),
        )

    def _reject(
        self, task_id: str, context: grpc.ServicerContext, code: grpc.StatusCode, reason: str
    ) -> None:
        with self._lock:
            self._event("upload_rejected", task_id, f"{code.name}: {reason}")
        context.abort(code, reason)

    def _hello(self, request: baton.BatonServiceHelloRequest) -> None:
        with self._lock:
            self._hellos.append(copy.deepcopy(request))
            self._event("hello", request.task_id, request.host_id)


def _receive_upload(
    requests: Iterator[baton.BatonServiceUploadAssetRequest],
    dest: Path,
    context: grpc.ServicerContext,
    *,
    cut: bool = False,
) -> tuple[int, bytes, bytes]:
    """Write data chunks to `dest` until eof; returns (size, sha256 of bytes, claimed sha256).
    With `cut`, the stream is reset after its first data chunk, as a dropped connection."""
    hasher = hashlib.sha256()
    size = 0
    claimed: bytes | None = None
    with dest.open("wb") as out:
        for msg in requests:
            kind = msg.WhichOneof("msg")
            if claimed is not None:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, "message after eof")
            if kind == "data":
                chunk = msg.data.data
                if not 0 < len(chunk) <= MAX_CHUNK_BYTES:
                    context.abort(
                        grpc.StatusCode.INVALID_ARGUMENT, "data chunks must be 1 byte to 1 MiB"
                    )
                hasher.update(chunk)
                out.write(chunk)
                size += len(chunk)
                if cut:
                    context.abort(grpc.StatusCode.UNAVAILABLE, "upload stream reset")
            elif kind == "eof":
                claimed = msg.eof.sha256_checksum
                if len(claimed) != 32:
                    context.abort(
                        grpc.StatusCode.INVALID_ARGUMENT, "eof.sha256_checksum must be 32 bytes"
                    )
            else:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"unexpected {kind} message")
    if claimed is None:
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, "the stream ended without eof")
    return size, hasher.digest(), claimed


def _duration(seconds: float) -> duration_pb2.Duration:
    d = duration_pb2.Duration()
    d.FromNanoseconds(int(seconds * 1e9))
    return d


def _snapshot(task: SandboxTask) -> SandboxTask:
    return replace(task, message=copy.deepcopy(task.message))


def _verify_jwt(
    assertion: str, public_key: Ed25519PublicKey
) -> tuple[dict[str, Any], dict[str, Any]]:
    parts = assertion.split(".")
    if len(parts) != 3:
        raise _AuthError(401, "invalid_client", "client_assertion is not a compact JWS")
    try:
        header = json.loads(b64url_decode(parts[0]))
        claims = json.loads(b64url_decode(parts[1]))
        signature = b64url_decode(parts[2])
    except ValueError:
        raise _AuthError(401, "invalid_client", "client_assertion is not valid JWS") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise _AuthError(401, "invalid_client", "client_assertion is not valid JWS")
    if header.get("alg") != "EdDSA":
        raise _AuthError(401, "invalid_client", "client_assertion must be signed with EdDSA")
    try:
        public_key.verify(signature, f"{parts[0]}.{parts[1]}".encode("ascii"))
    except (InvalidSignature, UnicodeEncodeError):
        raise _AuthError(401, "invalid_client", "bad client_assertion signature") from None
    return header, claims


# --- gRPC servicer ----------------------------------------------------------------------------


class _BatonServicer(baton_grpc.BatonServiceServicer):
    def __init__(self, sandbox: C1Sandbox) -> None:
        self._sandbox = sandbox

    def _fault(self, method: str, context: grpc.ServicerContext) -> None:
        code = self._sandbox._take_grpc_fault(method)
        if code is not None:
            context.abort(code, f"{method}: injected by the sandbox ({code.name})")

    def _auth(self, context: grpc.ServicerContext) -> str:
        metadata = dict(context.invocation_metadata())
        try:
            return self._sandbox.authenticate(str(metadata.get("authorization", "")))
        except _AuthError as exc:
            with self._sandbox._lock:
                self._sandbox._event("unauthenticated", detail=exc.reason)
            context.abort(grpc.StatusCode.UNAUTHENTICATED, exc.reason)
            raise  # unreachable: abort raises

    def Hello(
        self, request: baton.BatonServiceHelloRequest, context: grpc.ServicerContext
    ) -> baton.BatonServiceHelloResponse:
        self._fault("Hello", context)
        self._auth(context)
        if not request.host_id:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "host_id is required")
        self._sandbox._hello(request)
        return baton.BatonServiceHelloResponse()

    def GetTask(
        self, request: baton.BatonServiceGetTaskRequest, context: grpc.ServicerContext
    ) -> baton.BatonServiceGetTaskResponse:
        self._fault("GetTask", context)
        self._auth(context)
        if not request.host_id:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "host_id is required")
        return self._sandbox._get_task(request.host_id)

    def Heartbeat(
        self, request: baton.BatonServiceHeartbeatRequest, context: grpc.ServicerContext
    ) -> baton.BatonServiceHeartbeatResponse:
        self._fault("Heartbeat", context)
        self._auth(context)
        return self._sandbox._heartbeat(request.host_id, request.task_id, context)

    def FinishTask(
        self, request: baton.BatonServiceFinishTaskRequest, context: grpc.ServicerContext
    ) -> baton.BatonServiceFinishTaskResponse:
        self._fault("FinishTask", context)
        self._auth(context)
        self._sandbox._finish(request, context)
        return baton.BatonServiceFinishTaskResponse()

    def UploadAsset(
        self,
        request_iterator: Iterator[baton.BatonServiceUploadAssetRequest],
        context: grpc.ServicerContext,
    ) -> baton.BatonServiceUploadAssetResponse:
        self._fault("UploadAsset", context)
        self._auth(context)
        self._sandbox._upload(request_iterator, context)
        return baton.BatonServiceUploadAssetResponse()


# --- HTTP: token endpoint + control API -------------------------------------------------------


def _message_json(message: Message) -> dict[str, Any]:
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


def _any_json(packed: any_pb2.Any | None) -> dict[str, Any] | None:
    if packed is None:
        return None
    try:
        return _message_json(packed)
    except (json_format.Error, TypeError, KeyError):
        # A type the sandbox does not know: show what it is without decoding it.
        return {"@type": packed.type_url, "size": len(packed.value)}


def task_json(task: SandboxTask) -> dict[str, Any]:
    return {
        "task_id": task.task_id,
        "kind": task.kind,
        "state": task.state,
        "host_id": task.host_id,
        "offers": task.offers,
        "heartbeats": task.heartbeats,
        "cancel_requested": task.cancel_requested,
        "created_at": task.created_at,
        "task": _message_json(task.message),
    }


def finish_json(record: FinishRecord) -> dict[str, Any]:
    return {
        "task_id": record.task_id,
        "host_id": record.host_id,
        "outcome": record.outcome,
        "non_retryable": record.non_retryable,
        "status": {"code": record.status_code, "message": record.status_message},
        "response": _any_json(record.response),
        "accepted": record.accepted,
        "reason": record.reason,
        "at": record.at,
    }


def upload_json(record: UploadRecord) -> dict[str, Any]:
    return {
        "task_id": record.task_id,
        "host_id": record.host_id,
        "path": str(record.path),
        "size": record.size,
        "sha256": record.sha256,
        "tables": list(record.tables),
        "row_counts": record.row_counts,
        "at": record.at,
    }


class _HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class _HttpHandler(BaseHTTPRequestHandler):
    owner: C1Sandbox  # set by the per-sandbox subclass
    server_version = "c1-sandbox"

    def log_message(self, format: str, *args: Any) -> None:
        # Silence per-request stderr logging; bodies hold assertions and tokens.
        return

    def do_POST(self) -> None:
        path = urlsplit(self.path).path.rstrip("/")
        try:
            if path == TOKEN_PATH:
                self._token()
            elif path.startswith(CONTROL_PREFIX + "/"):
                self._send_json(200, self._control_post(path[len(CONTROL_PREFIX) :]))
            else:
                raise _HttpError(404, f"no route POST {path}")
        except _HttpError as exc:
            self._send_json(exc.status, {"error": str(exc)})

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        path = parts.path.rstrip("/")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        try:
            if not path.startswith(CONTROL_PREFIX + "/"):
                raise _HttpError(404, f"no route GET {path}")
            self._send_json(200, self._control_get(path[len(CONTROL_PREFIX) :], query))
        except _HttpError as exc:
            self._send_json(exc.status, {"error": str(exc)})

    # --- token endpoint ---

    def _token(self) -> None:
        body = self._read_body()
        fault = self.owner._take_token_fault()
        if fault == "down":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if fault == "500":
            self._send_json(500, {"error": "server_error"})
            return
        if "application/x-www-form-urlencoded" not in self.headers.get("Content-Type", ""):
            self._send_json(400, {"error": "invalid_request"})
            return
        form = {k: v[-1] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        try:
            self._send_json(200, self.owner.issue_token(form))
        except _AuthError as exc:
            with self.owner._lock:
                self.owner._event("token_rejected", detail=exc.reason)
            # Reasons are the sandbox's own phrases, never request content.
            self._send_json(exc.status, {"error": exc.error, "error_description": exc.reason})

    # --- control API ---

    def _control_post(self, route: str) -> dict[str, Any]:
        data = self._read_json()
        sb = self.owner
        try:
            if route == "/clients":
                client_id, secret = sb.register_client(str(data.get("name") or "sandbox"))
                return {"client_id": client_id, "client_secret": secret}
            if route == "/tasks/sync_full":
                return {"task_id": sb.enqueue_sync_full()}
            if route == "/tasks/grant":
                return {"task_id": sb.enqueue_grant(*_grant_args(data))}
            if route == "/tasks/revoke":
                return {"task_id": sb.enqueue_revoke(_revoke_arg(data))}
            if route == "/tasks/create_account":
                return {"task_id": sb.enqueue_create_account(**_create_account_args(data))}
            if route.startswith("/tasks/") and route.endswith("/cancel"):
                task_id = route[len("/tasks/") : -len("/cancel")]
                sb.cancel(task_id)
                return {"task_id": task_id, "cancel_requested": True}
            if route == "/uploads/reject_next":
                count = int(data.get("count", 1))
                sb.reject_next_uploads(count)
                return {"rejecting_next": count}
            if route == "/faults/grpc":
                sb.fail_next_calls(str(data["method"]), int(data.get("count", 1)))
                return {"failing_next": data.get("count", 1), "method": data["method"]}
            if route == "/faults/token":
                sb.fail_next_token_requests(int(data.get("count", 1)),
                                            str(data.get("kind", "500")))
                return {"failing_next": data.get("count", 1)}
            if route == "/uploads/cut_next":
                sb.cut_next_uploads(int(data.get("count", 1)))
                return {"cutting_next": data.get("count", 1)}
            if route == "/tokens/revoke":
                sb.revoke_tokens()
                return {"revoked": True}
        except KeyError as exc:
            raise _HttpError(404, str(exc.args[0]) if exc.args else "not found") from None
        except (ValueError, TypeError, json_format.ParseError) as exc:
            raise _HttpError(400, str(exc)) from None
        raise _HttpError(404, f"no route POST {CONTROL_PREFIX}{route}")

    def _control_get(self, route: str, query: dict[str, str]) -> dict[str, Any]:
        sb = self.owner
        task_id = query.get("task_id")
        if route == "/health":
            return {"ok": True, "grpc_target": sb.grpc_target, "tenant_host": sb.tenant_host}
        if route == "/tasks":
            return {"tasks": [task_json(t) for t in sb.tasks()]}
        if route.startswith("/tasks/"):
            try:
                return task_json(sb.task(route[len("/tasks/") :]))
            except KeyError as exc:
                raise _HttpError(404, str(exc.args[0])) from None
        if route == "/finishes":
            records = [f for f in sb.finishes if task_id is None or f.task_id == task_id]
            return {"finishes": [finish_json(f) for f in records]}
        if route == "/uploads":
            return {"uploads": [upload_json(u) for u in sb.uploads(task_id)]}
        if route == "/hellos":
            return {"hellos": [_message_json(h) for h in sb.hellos]}
        if route == "/events":
            return {"events": [vars(e) for e in sb.events]}
        raise _HttpError(404, f"no route GET {CONTROL_PREFIX}{route}")

    # --- plumbing ---

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        if length > 1024 * 1024:
            raise _HttpError(413, "request body too large")
        return self.rfile.read(length) if length else b""

    def _read_json(self) -> dict[str, Any]:
        body = self._read_body()
        if not body.strip():
            return {}
        try:
            data = json.loads(body)
        except ValueError:
            raise _HttpError(400, "the body is not JSON") from None
        if not isinstance(data, dict):
            raise _HttpError(400, "the body must be a JSON object")
        return data

    def _send_json(self, status: int, payload: dict[str, Any]) -> None:
        body = json.dumps(payload, default=str).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)


def _grant_args(data: dict[str, Any]) -> tuple[v2.Entitlement | str, v2.Resource | str]:
    if "entitlement" in data:
        entitlement: v2.Entitlement | str = json_format.ParseDict(
            data["entitlement"], v2.Entitlement()
        )
    elif "entitlement_id" in data:
        entitlement = str(data["entitlement_id"])
    else:
        raise ValueError("give entitlement_id (e.g. 'course:c1:assigned') or entitlement")
    raw = data.get("principal")
    if isinstance(raw, dict):
        principal: v2.Resource | str = json_format.ParseDict(raw, v2.Resource())
    elif isinstance(raw, str) and raw:
        principal = raw
    else:
        raise ValueError("give principal ('user:<id>') or a Resource object")
    return entitlement, principal


def _revoke_arg(data: dict[str, Any]) -> v2.Grant | str:
    if "grant" in data:
        return json_format.ParseDict(data["grant"], v2.Grant())
    if "grant_id" in data:
        return str(data["grant_id"])
    raise ValueError("give grant_id (e.g. 'course:c1:assigned:user:u1') or grant")


def _create_account_args(data: dict[str, Any]) -> dict[str, Any]:
    missing = [k for k in ("login", "email", "given_name", "family_name") if not data.get(k)]
    if missing:
        raise ValueError(f"missing fields: {', '.join(missing)}")
    profile = data.get("profile")
    return {
        "login": str(data["login"]),
        "email": str(data["email"]),
        "given_name": str(data["given_name"]),
        "family_name": str(data["family_name"]),
        "profile": profile if isinstance(profile, dict) else None,
    }


# --- CLI --------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m litmos_sandbox c1 <command>`; argv holds what follows `c1`."""
    args = _parser().parse_args(argv)
    try:
        return int(args.func(args))
    except httpx.HTTPError as exc:
        print(f"c1 sandbox: cannot reach the control API: {exc}", file=sys.stderr)
        return 2
    except _ControlError as exc:
        print(f"c1 sandbox: {exc}", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="litmos_sandbox c1",
        description="Run, or drive a running, C1 sandbox (token endpoint + BatonService).",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run a sandbox until SIGINT/SIGTERM")
    serve.add_argument("--http-port", type=int, default=0, help="token + control API port")
    serve.add_argument("--grpc-port", type=int, default=0, help="BatonService port")
    serve.add_argument("--tenant-host", default=SANDBOX_TENANT_HOST)
    serve.add_argument("--client-name", default="sandbox")
    serve.add_argument("--token-lifetime", type=int, default=3600, help="seconds")
    serve.add_argument("--lease-timeout", type=float, default=30.0, help="seconds")
    serve.add_argument("--next-poll", type=float, default=1.0, help="seconds")
    serve.add_argument("--next-heartbeat", type=float, default=5.0, help="seconds")
    serve.add_argument("--data-dir", help="keep uploads here (default: a temp dir, removed)")
    serve.set_defaults(func=_cmd_serve)

    def control(name: str, help_text: str, func: Callable[[argparse.Namespace], int]) -> Any:
        p = sub.add_parser(name, help=help_text)
        p.add_argument("--api-url", required=True, help="the running sandbox's api_url")
        p.set_defaults(func=func)
        return p

    control("register-client", "register another client", _cmd_register).add_argument(
        "--name", default="sandbox"
    )
    control("enqueue-sync", "queue a sync_full task", _cmd_enqueue_sync)
    grant = control("enqueue-grant", "queue a grant task", _cmd_enqueue_grant)
    grant.add_argument("--entitlement", required=True, help="e.g. course:c1:assigned")
    grant.add_argument("--principal", required=True, help="e.g. user:u42")
    revoke = control("enqueue-revoke", "queue a revoke task", _cmd_enqueue_revoke)
    revoke.add_argument("--grant", required=True, help="e.g. course:c1:assigned:user:u42")
    account = control("enqueue-create-account", "queue a create_account task", _cmd_enqueue_acct)
    for flag in ("--login", "--email", "--given-name", "--family-name"):
        account.add_argument(flag, required=True)
    cancel = control("cancel", "cancel a task", _cmd_cancel)
    cancel.add_argument("--task-id", required=True)
    control("tasks", "list tasks", lambda a: _print(_control(a, "GET", "/tasks")))
    control("finishes", "list FinishTask calls", lambda a: _print(_control(a, "GET", "/finishes")))
    control("uploads", "list accepted uploads", lambda a: _print(_control(a, "GET", "/uploads")))
    control("events", "list sandbox events", lambda a: _print(_control(a, "GET", "/events")))
    return parser


class _ControlError(Exception):
    pass


def _control(
    args: argparse.Namespace, method: str, route: str, body: dict[str, Any] | None = None
) -> dict[str, Any]:
    url = args.api_url.rstrip("/") + CONTROL_PREFIX + route
    with httpx.Client(timeout=10.0) as http:
        resp = http.request(method, url, json=body if method == "POST" else None)
    try:
        payload = resp.json()
    except ValueError:
        raise _ControlError(f"{method} {route}: HTTP {resp.status_code}, not JSON") from None
    if resp.status_code != 200:
        raise _ControlError(f"{method} {route}: HTTP {resp.status_code}: {payload.get('error')}")
    return payload


def _print(payload: dict[str, Any]) -> int:
    print(json.dumps(payload, indent=2, sort_keys=True))
    return 0


def _cmd_register(args: argparse.Namespace) -> int:
    return _print(_control(args, "POST", "/clients", {"name": args.name}))


def _cmd_enqueue_sync(args: argparse.Namespace) -> int:
    return _print(_control(args, "POST", "/tasks/sync_full", {}))


def _cmd_enqueue_grant(args: argparse.Namespace) -> int:
    body = {"entitlement_id": args.entitlement, "principal": args.principal}
    return _print(_control(args, "POST", "/tasks/grant", body))


def _cmd_enqueue_revoke(args: argparse.Namespace) -> int:
    return _print(_control(args, "POST", "/tasks/revoke", {"grant_id": args.grant}))


def _cmd_enqueue_acct(args: argparse.Namespace) -> int:
    body = {
        "login": args.login,
        "email": args.email,
        "given_name": args.given_name,
        "family_name": args.family_name,
    }
    return _print(_control(args, "POST", "/tasks/create_account", body))


def _cmd_cancel(args: argparse.Namespace) -> int:
    return _print(_control(args, "POST", f"/tasks/{args.task_id}/cancel", {}))


def _cmd_serve(args: argparse.Namespace) -> int:
    stop = threading.Event()

    def on_signal(_signum: int, _frame: object) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    sandbox = C1Sandbox(
        tenant_host=args.tenant_host,
        token_lifetime_s=args.token_lifetime,
        lease_timeout_s=args.lease_timeout,
        next_poll_s=args.next_poll,
        next_heartbeat_s=args.next_heartbeat,
        data_dir=args.data_dir,
        http_port=args.http_port,
        grpc_port=args.grpc_port,
    )
    try:
        with sandbox:
            client_id, client_secret = sandbox.register_client(args.client_name)
            ready = {
                "api_url": sandbox.api_url,
                "grpc_target": sandbox.grpc_target,
                "tenant_host": sandbox.tenant_host,
                "client_id": client_id,
                "client_secret": client_secret,
                "pid": os.getpid(),
            }
            print(json.dumps(ready), flush=True)
            while not stop.wait(0.5):
                pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
