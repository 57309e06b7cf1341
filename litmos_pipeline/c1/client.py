"""A small client for C1's BatonService (service mode: Hello, GetTask, Heartbeat, FinishTask,
UploadAsset), plus helpers to read the tasks it hands out.

Every call carries `authorization: Bearer <token>` from a TokenSource. The channel is TLS
for real tenants; plaintext is allowed only to a loopback target (the sandbox).
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import platform
import socket
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Protocol, TypeVar

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.protobuf.message import Message
from google.rpc import status_pb2

from litmos_pipeline import catalog
from litmos_pipeline.c1.credentials import TokenSource, is_loopback_host
from litmos_pipeline.c1.proto import baton_v1_pb2 as baton
from litmos_pipeline.c1.proto import baton_v1_pb2_grpc as baton_grpc
from litmos_pipeline.c1.proto import connector_v2_pb2 as v2

GRPC_TARGET_SETTING = "C1_GRPC_TARGET"

# 512 KiB per data message, as the public SDK sends (the server allows up to 1 MiB).
UPLOAD_CHUNK_SIZE = 512 * 1024
UPLOAD_ATTEMPTS = 3
# Unary calls (GetTask, Heartbeat, FinishTask) tried this often while C1 is UNAVAILABLE,
# backing off 1 s, then 2 s: a C1 restart is ridden out, a long outage still surfaces.
UNARY_ATTEMPTS = 3
DEFAULT_TIMEOUT_S = 30.0
DEFAULT_UPLOAD_TIMEOUT_S = 30 * 60.0
# What the public SDK assumes when the server leaves the intervals unset.
DEFAULT_NEXT_POLL_S = 0.0
DEFAULT_NEXT_HEARTBEAT_S = 30.0

PACKAGE_NAME = "litmos-pipeline"

# An upload rejected with one of these will be rejected again: retrying cannot help.
_UPLOAD_FINAL_CODES = frozenset(
    {
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.UNIMPLEMENTED,
        grpc.StatusCode.OUT_OF_RANGE,
        grpc.StatusCode.ALREADY_EXISTS,
    }
)

T = TypeVar("T")


class _Hasher(Protocol):
    def update(self, data: bytes, /) -> None: ...

    def digest(self) -> bytes: ...


class C1Error(Exception):
    """A BatonService call failed. Says which call; never carries the bearer token."""

    def __init__(self, call: str, code: grpc.StatusCode | None, details: str) -> None:
        code_name = code.name if code is not None else "ERROR"
        super().__init__(f"BatonService.{call} failed: {code_name}: {details}")
        self.call = call
        self.code = code
        self.details = details


# --- targets ----------------------------------------------------------------------------------


def default_target(tenant_host: str, override: str | None = None) -> str:
    """`<tenant-host>:443`, unless `override` (the C1_GRPC_TARGET setting) is given.

    A tenant host that already names a port keeps it.
    """
    if override:
        return override.strip()
    host = tenant_host.strip()
    if host.startswith("["):
        return host if "]:" in host else f"{host}:443"
    if host.count(":") == 1:
        return host
    if host.count(":") > 1:  # a bare IPv6 literal
        return f"[{host}]:443"
    return f"{host}:443"


def target_host(target: str) -> str:
    """The host part of a gRPC target such as `h:443`, `[::1]:50051`, `dns:///h:443`, `ipv4:…`."""
    rest = target.strip()
    for scheme in ("dns:///", "dns:", "ipv4:", "ipv6:"):
        if rest.startswith(scheme):
            rest = rest[len(scheme) :]
            break
    else:
        if "://" in rest or rest.startswith("unix:"):
            return ""
    rest = rest.split(",", 1)[0]  # ipv4:/ipv6: may list several addresses
    if rest.startswith("["):
        return rest[1:].split("]", 1)[0]
    if rest.count(":") == 1:
        return rest.split(":", 1)[0]
    if rest.count(":") > 1:
        try:
            ipaddress.ip_address(rest)
            return rest
        except ValueError:
            return rest.rsplit(":", 1)[0]
    return rest


# --- task helpers ------------------------------------------------------------------------------


def task_kind(task: baton.Task | None) -> str:
    """'sync_full', 'grant', 'revoke', 'create_account', …; 'none' for an empty task."""
    if task is None:
        return "none"
    return task.WhichOneof("task_type") or "none"


def grant_task_parts(task: baton.Task) -> tuple[v2.Entitlement, v2.Resource]:
    """(entitlement, principal) of a grant task."""
    _require_kind(task, "grant")
    return task.grant.entitlement, task.grant.principal


def revoke_task_grant(task: baton.Task) -> v2.Grant:
    """The grant a revoke task asks to remove."""
    _require_kind(task, "revoke")
    return task.revoke.grant


def create_account_info(task: baton.Task) -> v2.AccountInfo:
    """The account a create_account task asks for."""
    _require_kind(task, "create_account")
    return task.create_account.account_info


def _require_kind(task: baton.Task, kind: str) -> None:
    actual = task_kind(task)
    if actual != kind:
        raise ValueError(f"task {task.id or '<no id>'} is a {actual!r} task, not {kind!r}")


# --- hello payload -----------------------------------------------------------------------------

def default_connector_metadata(
    *, provisionable: Iterable[str] | None = None
) -> v2.ConnectorMetadata:
    """What we announce in Hello: the catalog's resource types and what is served on each.

    `provisionable` lists the resource types whose entitlements we can grant and revoke;
    by default those the catalog gives grant and revoke verbs (team, course). Only what a
    task is really answered for is listed (C1 offers tasks by these capabilities).
    """
    can_provision = set(provisionable if provisionable is not None
                        else (rt.id for rt in catalog.CATALOG if rt.provisionable))
    caps = [
        v2.ResourceTypeCapability(
            resource_type=v2.ResourceType(id=rt.id, display_name=rt.display_name,
                                          traits=list(rt.traits)),
            capabilities=_type_capabilities(rt.id, rt.id in can_provision, rt.targetable),
        )
        for rt in sorted(catalog.CATALOG, key=lambda rt: rt.id)
    ]
    connector = {c for rtc in caps for c in rtc.capabilities}
    connector.add(v2.CAPABILITY_ACCOUNT_PROVISIONING)
    if v2.CAPABILITY_TARGETED_SYNC in connector:
        # Sync tasks naming resources are answered with a partial c1z (defs/targeted.py).
        connector.add(v2.CAPABILITY_SERVICE_MODE_TARGETED_SYNC)
    if catalog.user.USER_ACTIONS:  # disable/enable user, served through the task loop
        connector.add(v2.CAPABILITY_ACTIONS)
    return v2.ConnectorMetadata(
        display_name="Litmos",
        description="Litmos users, teams and courses, published by litmos-pipeline",
        capabilities=v2.ConnectorCapabilities(
            resource_type_capabilities=caps,
            connector_capabilities=sorted(connector),
            credential_details=_credential_details(),
        ),
        account_creation_schema=account_creation_schema(),
    )


def _type_capabilities(type_id: str, provisionable: bool, targeted: bool) -> list[int]:
    # Sorted, as the SDK sends them. TARGETED_SYNC: one resource can be read alone.
    caps = {v2.CAPABILITY_SYNC}
    if targeted:
        caps.add(v2.CAPABILITY_TARGETED_SYNC)
    if provisionable:
        caps.add(v2.CAPABILITY_PROVISION)
    if type_id == catalog.USER.id:
        caps.add(v2.CAPABILITY_ACCOUNT_PROVISIONING)  # create_account makes users
    return sorted(caps)


_CREDENTIAL_OPTION = {
    "no_password": v2.CAPABILITY_DETAIL_CREDENTIAL_OPTION_NO_PASSWORD,
    "sso": v2.CAPABILITY_DETAIL_CREDENTIAL_OPTION_SSO,
}


def _credential_details() -> v2.CredentialDetails:
    """The credential options create_account accepts; the first is preferred."""
    options = [_CREDENTIAL_OPTION[o] for o in catalog.user.CREDENTIAL_OPTIONS]
    return v2.CredentialDetails(
        capability_account_provisioning=v2.CredentialDetailsAccountProvisioning(
            supported_credential_options=options, preferred_credential_option=options[0]))


def account_creation_schema() -> v2.ConnectorAccountCreationSchema:
    """The fields C1 asks for when it creates a Litmos account (catalog/user.py)."""
    schema = v2.ConnectorAccountCreationSchema()
    for order, spec in enumerate(catalog.user.ACCOUNT_FIELDS, start=1):
        field = schema.field_map[spec.key]
        field.display_name = spec.display_name
        field.description = spec.description
        field.placeholder = spec.placeholder
        field.required = spec.required
        field.order = order
        field.string_field.SetInParent()
    return schema


def _package_version() -> str:
    try:
        return importlib_metadata.version(PACKAGE_NAME)
    except importlib_metadata.PackageNotFoundError:
        return "0.0.0-dev"


def _nonempty(value: str) -> str:
    # The public schema requires every BuildInfo/OSInfo string to be non-empty.
    return value.strip() or "unknown"


def build_info() -> baton.BatonServiceHelloRequest.BuildInfo:
    return baton.BatonServiceHelloRequest.BuildInfo(
        lang_version=f"python{platform.python_version()}",
        package=PACKAGE_NAME,
        package_version=_package_version(),
    )


def os_info() -> baton.BatonServiceHelloRequest.OSInfo:
    system = platform.system().lower()
    distro = _os_release()
    return baton.BatonServiceHelloRequest.OSInfo(
        hostname=_nonempty(socket.gethostname()),
        os=_nonempty(system or sys.platform),
        platform=_nonempty(distro.get("ID", system)),
        platform_version=_nonempty(distro.get("VERSION_ID", platform.version())),
        platform_family=_nonempty(distro.get("ID_LIKE", distro.get("ID", system)).split(" ")[0]),
        kernel_version=_nonempty(platform.release()),
        kernel_arch=_nonempty(platform.machine()),
        virtualization_system="none",
    )


def _os_release() -> dict[str, str]:
    try:
        lines = Path("/etc/os-release").read_text(encoding="utf-8").splitlines()
    except OSError:
        return {}
    values: dict[str, str] = {}
    for line in lines:
        key, eq, value = line.partition("=")
        if eq:
            values[key.strip()] = value.strip().strip('"')
    return values


def _seconds(duration: duration_pb2.Duration, default: float) -> float:
    if duration.seconds == 0 and duration.nanos == 0:
        return default
    return duration.seconds + duration.nanos / 1e9


# --- the client --------------------------------------------------------------------------------


class BatonClient:
    """BatonService over one gRPC channel. Thread-safe as far as grpc channels are."""

    def __init__(
        self,
        target: str,
        tokens: TokenSource,
        *,
        tls: bool | None = None,
        host_id: str,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        upload_timeout_s: float = DEFAULT_UPLOAD_TIMEOUT_S,
        upload_attempts: int = UPLOAD_ATTEMPTS,
        unary_attempts: int = UNARY_ATTEMPTS,
        retry_backoff_s: float = 1.0,
        root_certificates: bytes | None = None,
    ) -> None:
        if not host_id or not host_id.strip():
            raise ValueError("host_id must be a non-empty string")
        host = target_host(target)
        loopback = bool(host) and is_loopback_host(host)
        use_tls = (not loopback) if tls is None else tls
        if not use_tls and not loopback:
            raise ValueError(
                f"plaintext gRPC is allowed only to a loopback target, not {target!r}; "
                f"use TLS or point {GRPC_TARGET_SETTING} at 127.0.0.1/localhost/::1"
            )
        self.target = target
        self.host_id = host_id.strip()
        self.tls = use_tls
        self._tokens = tokens
        self._timeout_s = timeout_s
        self._upload_timeout_s = upload_timeout_s
        self._upload_attempts = max(1, upload_attempts)
        self._unary_attempts = max(1, unary_attempts)
        self._retry_backoff_s = retry_backoff_s
        options = [
            ("grpc.primary_user_agent", f"{PACKAGE_NAME}/{_package_version()}"),
            ("grpc.max_receive_message_length", 64 * 1024 * 1024),
            ("grpc.max_send_message_length", 4 * 1024 * 1024),
        ]
        if use_tls:
            creds = grpc.ssl_channel_credentials(root_certificates=root_certificates)
            self._channel = grpc.secure_channel(target, creds, options=options)
        else:
            self._channel = grpc.insecure_channel(target, options=options)
        self._stub = baton_grpc.BatonServiceStub(self._channel)

    def __repr__(self) -> str:
        return f"BatonClient(target={self.target!r}, host_id={self.host_id!r}, tls={self.tls})"

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> BatonClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # --- RPCs ---

    def hello(
        self,
        *,
        connector_metadata: v2.ConnectorMetadata | None = None,
        task_id: str = "",
    ) -> baton.BatonServiceHelloResponse:
        """Announce this host: build and OS info, and what the connector can do."""
        request = baton.BatonServiceHelloRequest(
            host_id=self.host_id,
            task_id=task_id,
            build_info=build_info(),
            os_info=os_info(),
            connector_metadata=connector_metadata or default_connector_metadata(),
        )
        return self._unary("Hello", self._stub.Hello, request)

    def get_task(self) -> tuple[baton.Task | None, float, float]:
        """(task or None when there is nothing to do, next_poll seconds, next_heartbeat seconds)."""
        resp = self._unary(
            "GetTask", self._stub.GetTask, baton.BatonServiceGetTaskRequest(host_id=self.host_id)
        )
        next_poll = _seconds(resp.next_poll, DEFAULT_NEXT_POLL_S)
        next_heartbeat = _seconds(resp.next_heartbeat, DEFAULT_NEXT_HEARTBEAT_S)
        task = resp.task if resp.HasField("task") else None
        if task is not None and task_kind(task) == "none":
            task = None
        return task, next_poll, next_heartbeat

    def heartbeat(self, task_id: str) -> bool:
        """Keep the task's lease; True means C1 cancelled the task and work should stop."""
        request = baton.BatonServiceHeartbeatRequest(host_id=self.host_id, task_id=task_id)
        resp = self._unary("Heartbeat", self._stub.Heartbeat, request)
        return resp.cancelled or task_id in resp.cancelled_task_ids

    def finish_task_success(self, task_id: str, response: Message | None = None,
                            annotations: Sequence[Message] = ()) -> None:
        """Report success; `response` is packed into an Any, unless it is one already;
        each of `annotations` into one of Success.annotations."""
        success = baton.BatonServiceFinishTaskRequest.Success()
        if isinstance(response, any_pb2.Any):
            success.response.CopyFrom(response)
        elif response is not None:
            success.response.Pack(response)
        for annotation in annotations:
            success.annotations.add().Pack(annotation)
        request = baton.BatonServiceFinishTaskRequest(
            host_id=self.host_id, task_id=task_id, success=success
        )
        self._unary("FinishTask", self._stub.FinishTask, request)

    def finish_task_error(
        self,
        task_id: str,
        message: str,
        *,
        non_retryable: bool,
        code: grpc.StatusCode = grpc.StatusCode.UNKNOWN,
        response: Message | None = None,
        annotations: Sequence[Message] = (),
    ) -> None:
        """Report failure; `non_retryable` tells C1 not to offer the task again; each of
        `annotations` (e.g. a RateLimitDescription) goes into Error.annotations."""
        error = baton.BatonServiceFinishTaskRequest.Error(non_retryable=non_retryable)
        if response is not None:
            error.response.Pack(response)
        for annotation in annotations:
            error.annotations.add().Pack(annotation)
        request = baton.BatonServiceFinishTaskRequest(
            host_id=self.host_id,
            task_id=task_id,
            status=status_pb2.Status(code=code.value[0], message=message),
            error=error,
        )
        self._unary("FinishTask", self._stub.FinishTask, request)

    def upload_asset(self, task_id: str, path: str | os.PathLike[str]) -> str:
        """Stream a file (a c1z) for the task; returns its sha256 hex. Retries up to 3 times."""
        file_path = Path(path)
        if not file_path.is_file():
            raise FileNotFoundError(f"upload for task {task_id}: no such file {file_path}")
        last_error: C1Error | None = None
        for attempt in range(1, self._upload_attempts + 1):
            try:
                return self._with_auth_retry(lambda md: self._upload_once(task_id, file_path, md))
            except grpc.RpcError as exc:
                last_error = self._wrap("UploadAsset", exc)
                if _rpc_code(exc) in _UPLOAD_FINAL_CODES:
                    raise last_error from None
            if attempt < self._upload_attempts:
                time.sleep(self._retry_backoff_s * attempt)
        assert last_error is not None
        raise C1Error(
            "UploadAsset",
            last_error.code,
            f"gave up after {self._upload_attempts} attempts; last error: {last_error.details}",
        ) from None

    # --- plumbing ---

    def _upload_once(self, task_id: str, path: Path, metadata: tuple[tuple[str, str], ...]) -> str:
        digest = hashlib.sha256()
        self._stub.UploadAsset(
            self._upload_messages(task_id, path, digest),
            timeout=self._upload_timeout_s,
            metadata=metadata,
        )
        return digest.hexdigest()

    def _upload_messages(
        self, task_id: str, path: Path, digest: _Hasher
    ) -> Iterator[baton.BatonServiceUploadAssetRequest]:
        # The checksum is computed while streaming, so the file is read once per attempt.
        msg = baton.BatonServiceUploadAssetRequest
        yield msg(metadata=msg.UploadMetadata(host_id=self.host_id, task_id=task_id))
        with path.open("rb") as fh:
            while chunk := fh.read(UPLOAD_CHUNK_SIZE):
                digest.update(chunk)
                yield msg(data=msg.UploadData(data=chunk))
        yield msg(eof=msg.UploadEOF(sha256_checksum=digest.digest()))

    def _unary(self, call: str, method: Callable[..., T], request: Message) -> T:
        """One call, retried while C1 answers UNAVAILABLE (a restart, a load balancer).

        A FinishTask whose answer was lost may have landed: when its retry is refused as
        "already finished", the first attempt did it, so that counts as done.
        """
        for attempt in range(1, self._unary_attempts + 1):
            try:
                return self._with_auth_retry(
                    lambda md: method(request, timeout=self._timeout_s, metadata=md)
                )
            except grpc.RpcError as exc:
                code = _rpc_code(exc)
                if (attempt > 1 and call == "FinishTask"
                        and code == grpc.StatusCode.FAILED_PRECONDITION):
                    return None  # type: ignore[return-value]  # FinishTask returns nothing
                if code != grpc.StatusCode.UNAVAILABLE or attempt == self._unary_attempts:
                    raise self._wrap(call, exc) from None
            time.sleep(self._retry_backoff_s * attempt)
        raise AssertionError("unreachable")

    def _with_auth_retry(self, invoke: Callable[[tuple[tuple[str, str], ...]], T]) -> T:
        """Run a call; on UNAUTHENTICATED drop the cached token and try once more."""
        try:
            return invoke(self._metadata())
        except grpc.RpcError as exc:
            if _rpc_code(exc) != grpc.StatusCode.UNAUTHENTICATED:
                raise
        self._tokens.invalidate()
        return invoke(self._metadata())

    def _metadata(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", self._tokens.authorization()),)

    def _wrap(self, call: str, exc: grpc.RpcError) -> C1Error:
        details = exc.details() if isinstance(exc, grpc.Call) else str(exc)
        return C1Error(call, _rpc_code(exc), self._redact(details or ""))

    def _redact(self, text: str) -> str:
        # A misbehaving server could echo our header back; never let the token through.
        token = self._tokens.cached_token()
        return text.replace(token, "<redacted>") if token else text


def _rpc_code(exc: grpc.RpcError) -> grpc.StatusCode | None:
    return exc.code() if isinstance(exc, grpc.Call) else None
