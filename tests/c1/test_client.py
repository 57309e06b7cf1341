"""BatonClient against the C1 sandbox: auth metadata, the task loop, leases, cancel, uploads."""

from __future__ import annotations

import hashlib
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
import zstandard

from litmos_pipeline.c1.client import (
    UPLOAD_CHUNK_SIZE,
    BatonClient,
    C1Error,
    create_account_info,
    default_target,
    grant_task_parts,
    revoke_task_grant,
    target_host,
    task_kind,
)
from litmos_pipeline.c1.credentials import TokenSource, generate_client_credentials
from litmos_pipeline.c1.proto import baton_v1_pb2 as baton
from litmos_pipeline.c1.proto import connector_v2_pb2 as v2
from litmos_sandbox.c1 import C1Sandbox


def write_c1z(path: Path, blob_bytes: int = 1_300_000) -> Path:
    """A small but real c1z: magic + zstd(SQLite). Random blobs keep it > 2 upload chunks."""
    db = path.with_suffix(".db")
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE v1_resources (id INTEGER PRIMARY KEY, external_id TEXT, data BLOB)")
    conn.execute(
        "INSERT INTO v1_resources (external_id, data) VALUES ('user:u1', randomblob(?))",
        (blob_bytes,),
    )
    conn.commit()
    conn.close()
    path.write_bytes(b"C1ZF\x00" + zstandard.ZstdCompressor().compress(db.read_bytes()))
    db.unlink()
    return path


@pytest.fixture()
def sandbox() -> Iterator[C1Sandbox]:
    with C1Sandbox(lease_timeout_s=1.0, next_poll_s=2.5, next_heartbeat_s=0.25) as sb:
        yield sb


@pytest.fixture()
def tokens(sandbox: C1Sandbox) -> Iterator[TokenSource]:
    client_id, client_secret = sandbox.register_client()
    with sandbox.token_source(client_id, client_secret) as ts:
        yield ts


def _client(sandbox: C1Sandbox, tokens: TokenSource, host_id: str = "host-a") -> BatonClient:
    return BatonClient(sandbox.grpc_target, tokens, host_id=host_id, retry_backoff_s=0.0)


@pytest.fixture()
def client(sandbox: C1Sandbox, tokens: TokenSource) -> Iterator[BatonClient]:
    with _client(sandbox, tokens) as c:
        yield c


# --- targets and transport security ------------------------------------------------------------


def test_default_target() -> None:
    assert default_target("acme.conductor.one") == "acme.conductor.one:443"
    assert default_target("acme.conductor.one:8443") == "acme.conductor.one:8443"
    assert default_target("acme.conductor.one", "127.0.0.1:5000") == "127.0.0.1:5000"


@pytest.mark.parametrize(
    ("target", "host"),
    [
        ("acme.conductor.one:443", "acme.conductor.one"),
        ("127.0.0.1:50051", "127.0.0.1"),
        ("[::1]:50051", "::1"),
        ("localhost:1", "localhost"),
        ("dns:///localhost:50051", "localhost"),
        ("ipv4:127.0.0.1:5000", "127.0.0.1"),
        ("unix:/tmp/sock", ""),
    ],
)
def test_target_host(target: str, host: str) -> None:
    assert target_host(target) == host


@pytest.mark.parametrize(
    "target", ["acme.conductor.one:443", "10.0.0.5:50051", "unix:/tmp/sock", "127.example.com:1"]
)
def test_plaintext_to_non_loopback_is_refused(target: str) -> None:
    client_id, secret = generate_client_credentials("acme.conductor.one")
    with TokenSource(client_id, secret) as ts:
        with pytest.raises(ValueError, match="loopback"):
            BatonClient(target, ts, tls=False, host_id="h")


def test_tls_is_the_default_for_real_tenants_and_plaintext_for_loopback() -> None:
    client_id, secret = generate_client_credentials("acme.conductor.one")
    with TokenSource(client_id, secret) as ts:
        with BatonClient("acme.conductor.one:443", ts, host_id="h") as remote:
            assert remote.tls is True
        with BatonClient("localhost:1", ts, host_id="h") as local:
            assert local.tls is False


# --- hello and the task loop -------------------------------------------------------------------


def test_hello_announces_host_capabilities_and_resource_types(
    sandbox: C1Sandbox, client: BatonClient
) -> None:
    client.hello()
    [hello] = sandbox.hellos
    assert hello.host_id == "host-a"
    assert hello.build_info.package == "litmos-pipeline"
    assert hello.build_info.lang_version.startswith("python3")
    assert all(
        getattr(hello.os_info, f.name)
        for f in baton.BatonServiceHelloRequest.OSInfo.DESCRIPTOR.fields
    ), "the public schema requires every OSInfo field"
    caps = hello.connector_metadata.capabilities
    # Only what is served, sorted as the SDK sends them; resource types sorted by id.
    assert list(caps.connector_capabilities) == [
        v2.CAPABILITY_PROVISION, v2.CAPABILITY_SYNC, v2.CAPABILITY_ACCOUNT_PROVISIONING,
        v2.CAPABILITY_ACTIONS, v2.CAPABILITY_TARGETED_SYNC,
        v2.CAPABILITY_SERVICE_MODE_TARGETED_SYNC,
    ]
    assert sandbox.capabilities() == {
        "CAPABILITY_PROVISION", "CAPABILITY_SYNC", "CAPABILITY_ACCOUNT_PROVISIONING",
        "CAPABILITY_ACTIONS", "CAPABILITY_TARGETED_SYNC",
        "CAPABILITY_SERVICE_MODE_TARGETED_SYNC",
    }
    by_type = {c.resource_type.id: list(c.capabilities) for c in caps.resource_type_capabilities}
    assert list(by_type) == ["course", "learning_path", "module", "team", "user"]
    # Targeted sync on every type that can be read alone: a module is read with its course.
    assert by_type["user"] == [v2.CAPABILITY_SYNC, v2.CAPABILITY_ACCOUNT_PROVISIONING,
                               v2.CAPABILITY_TARGETED_SYNC]
    assert by_type["team"] == by_type["course"] == by_type["learning_path"] == [
        v2.CAPABILITY_PROVISION, v2.CAPABILITY_SYNC, v2.CAPABILITY_TARGETED_SYNC]
    assert by_type["module"] == [v2.CAPABILITY_SYNC]
    details = caps.credential_details.capability_account_provisioning
    assert list(details.supported_credential_options) == [
        v2.CAPABILITY_DETAIL_CREDENTIAL_OPTION_NO_PASSWORD,
        v2.CAPABILITY_DETAIL_CREDENTIAL_OPTION_SSO,
    ]
    assert details.preferred_credential_option in details.supported_credential_options


def test_hello_carries_the_account_creation_schema(
    sandbox: C1Sandbox, client: BatonClient
) -> None:
    client.hello()
    [hello] = sandbox.hellos
    fields = hello.connector_metadata.account_creation_schema.field_map
    assert set(fields) == {"login", "email", "given_name", "family_name"}
    assert sorted(fields, key=lambda k: fields[k].order) == [
        "email", "given_name", "family_name", "login",
    ]
    assert all(fields[k].required for k in ("email", "given_name", "family_name"))
    assert not fields["login"].required
    assert all(f.WhichOneof("field") == "string_field" for f in fields.values())


def test_empty_queue_gives_no_task_and_the_server_intervals(client: BatonClient) -> None:
    task, next_poll, next_heartbeat = client.get_task()
    assert task is None
    assert (next_poll, next_heartbeat) == (2.5, 0.25)


def test_grant_round_trip(sandbox: C1Sandbox, client: BatonClient) -> None:
    task_id = sandbox.enqueue_grant("course:c1:assigned", "user:u42")
    task, _, _ = client.get_task()
    assert task is not None and task.id == task_id
    assert task_kind(task) == "grant"
    entitlement, principal = grant_task_parts(task)
    assert entitlement.id == "course:c1:assigned"
    assert (entitlement.resource.id.resource_type, entitlement.resource.id.resource) == (
        "course",
        "c1",
    )
    assert (principal.id.resource_type, principal.id.resource) == ("user", "u42")
    with pytest.raises(ValueError, match="not 'revoke'"):
        revoke_task_grant(task)

    assert client.heartbeat(task_id) is False
    granted = v2.Grant(
        id="course:c1:assigned:user:u42", entitlement=entitlement, principal=principal
    )
    client.finish_task_success(task_id, v2.GrantManagerServiceGrantResponse(grants=[granted]))

    record = sandbox.finished(task_id)
    assert record is not None and record.outcome == "success" and record.host_id == "host-a"
    reply = v2.GrantManagerServiceGrantResponse()
    assert record.response is not None and record.response.Unpack(reply)
    assert [g.id for g in reply.grants] == ["course:c1:assigned:user:u42"]
    assert client.get_task()[0] is None, "a finished task is not offered again"


def test_revoke_and_create_account_tasks_are_readable(
    sandbox: C1Sandbox, client: BatonClient
) -> None:
    revoke_id = sandbox.enqueue_revoke("team:t1:member:user:u7")
    account_id = sandbox.enqueue_create_account("jdoe", "jdoe@example.com", "Jane", "Doe")
    revoke, _, _ = client.get_task()
    assert revoke is not None and revoke.id == revoke_id and task_kind(revoke) == "revoke"
    grant = revoke_task_grant(revoke)
    assert grant.id == "team:t1:member:user:u7"
    assert grant.entitlement.id == "team:t1:member"
    assert grant.principal.id.resource == "u7"
    client.finish_task_success(revoke_id, v2.GrantManagerServiceRevokeResponse())

    account, _, _ = client.get_task()
    assert account is not None and account.id == account_id
    info = create_account_info(account)
    assert info.login == "jdoe" and info.emails[0].address == "jdoe@example.com"
    assert info.profile["given_name"] == "Jane" and info.profile["family_name"] == "Doe"


def test_finish_with_error_is_recorded(sandbox: C1Sandbox, client: BatonClient) -> None:
    task_id = sandbox.enqueue_grant("course:c1:assigned", "user:nobody")
    client.get_task()
    client.finish_task_error(
        task_id,
        "user nobody does not exist in Litmos",
        non_retryable=True,
        code=grpc.StatusCode.NOT_FOUND,
    )
    record = sandbox.finished(task_id)
    assert record is not None
    assert (record.outcome, record.non_retryable) == ("error", True)
    assert record.status_code == grpc.StatusCode.NOT_FOUND.value[0]
    assert record.status_message == "user nobody does not exist in Litmos"
    assert sandbox.task(task_id).state == "finished"
    with pytest.raises(C1Error, match="FinishTask.*FAILED_PRECONDITION"):
        client.finish_task_success(task_id)


def test_task_whose_heartbeats_stop_is_reoffered(
    sandbox: C1Sandbox, client: BatonClient, tokens: TokenSource
) -> None:
    task_id = sandbox.enqueue_sync_full()
    first, _, _ = client.get_task()
    assert first is not None and first.id == task_id
    with _client(sandbox, tokens, host_id="host-b") as other:
        assert other.get_task()[0] is None, "leased to host-a"
        time.sleep(1.2)  # > lease_timeout_s with no heartbeat
        again, _, _ = other.get_task()
        assert again is not None and again.id == task_id
    snapshot = sandbox.task(task_id)
    assert (snapshot.offers, snapshot.host_id) == (2, "host-b")
    # The original worker learns it lost the task.
    assert client.heartbeat(task_id) is True


def test_heartbeats_keep_the_lease(
    sandbox: C1Sandbox, client: BatonClient, tokens: TokenSource
) -> None:
    task_id = sandbox.enqueue_sync_full()
    client.get_task()
    with _client(sandbox, tokens, host_id="host-b") as other:
        for _ in range(6):
            time.sleep(0.25)  # 1.5 s in all, well past one lease, but never 1 s without a beat
            assert client.heartbeat(task_id) is False
            assert other.get_task()[0] is None
    assert sandbox.task(task_id).offers == 1


def test_cancel_is_delivered_by_heartbeat(sandbox: C1Sandbox, client: BatonClient) -> None:
    task_id = sandbox.enqueue_grant("team:t1:member", "user:u1")
    client.get_task()
    assert client.heartbeat(task_id) is False
    sandbox.cancel(task_id)
    assert client.heartbeat(task_id) is True
    client.finish_task_error(task_id, "cancelled by C1", non_retryable=True)
    assert sandbox.finished(task_id) is not None


# --- authentication ---------------------------------------------------------------------------


def test_every_call_carries_the_bearer_token_and_reauths_after_revocation(
    sandbox: C1Sandbox, client: BatonClient, tokens: TokenSource
) -> None:
    client.get_task()
    assert tokens.fetch_count == 1
    sandbox.revoke_tokens()
    client.get_task()  # UNAUTHENTICATED once, then a fresh token
    assert tokens.fetch_count == 2
    assert sum(e.kind == "unauthenticated" for e in sandbox.events) == 1


class _FixedToken(TokenSource):
    """A token source that always presents the same (unknown to the server) token."""

    def __init__(self, token: str) -> None:
        client_id, secret = generate_client_credentials("sandbox.conductor.one")
        super().__init__(client_id, secret, "http://127.0.0.1:9/auth/v1/token")
        self.fixed = token

    def token(self) -> str:
        return self.fixed

    def cached_token(self) -> str | None:
        return self.fixed


def test_unknown_token_is_a_c1_error_without_the_token(sandbox: C1Sandbox) -> None:
    bogus = "bogus-token-" + "x" * 20
    with _FixedToken(bogus) as ts, BatonClient(sandbox.grpc_target, ts, host_id="h") as c:
        with pytest.raises(C1Error) as info:
            c.get_task()
    err = info.value
    assert err.call == "GetTask" and err.code == grpc.StatusCode.UNAUTHENTICATED
    assert "BatonService.GetTask failed: UNAUTHENTICATED" in str(err)
    assert bogus not in str(err) and bogus not in repr(err)


# --- uploads ----------------------------------------------------------------------------------


def test_upload_streams_chunks_with_checksum(
    sandbox: C1Sandbox, client: BatonClient, tmp_path: Path
) -> None:
    path = write_c1z(tmp_path / "sync.c1z")
    assert path.stat().st_size > 2 * UPLOAD_CHUNK_SIZE
    task_id = sandbox.enqueue_sync_full()
    client.get_task()
    digest = client.upload_asset(task_id, path)
    assert digest == hashlib.sha256(path.read_bytes()).hexdigest()
    [upload] = sandbox.uploads(task_id)
    assert (upload.sha256, upload.size) == (digest, path.stat().st_size)
    assert upload.path.read_bytes() == path.read_bytes()
    assert upload.row_counts == {"v1_resources": 1}
    client.finish_task_success(task_id)
    assert sandbox.finished(task_id) is not None


class _CorruptFirstChecksum(BatonClient):
    """Sends a wrong eof checksum on the first attempt, as a flipped bit in transit would."""

    corrupted = 0

    def _upload_messages(self, task_id, path, digest):  # type: ignore[no-untyped-def]
        for msg in super()._upload_messages(task_id, path, digest):
            if msg.WhichOneof("msg") == "eof" and self.corrupted == 0:
                self.corrupted += 1
                msg.eof.sha256_checksum = bytes(32)
            yield msg


def test_checksum_mismatch_is_rejected_and_the_client_retries(
    sandbox: C1Sandbox, tokens: TokenSource, tmp_path: Path
) -> None:
    path = write_c1z(tmp_path / "sync.c1z", blob_bytes=10_000)
    task_id = sandbox.enqueue_sync_full()
    with _CorruptFirstChecksum(
        sandbox.grpc_target, tokens, host_id="host-a", retry_backoff_s=0.0
    ) as client:
        client.get_task()
        digest = client.upload_asset(task_id, path)
    rejections = [e for e in sandbox.events if e.kind == "upload_rejected"]
    assert len(rejections) == 1 and "DATA_LOSS" in rejections[0].detail
    assert [u.sha256 for u in sandbox.uploads(task_id)] == [digest]


def test_upload_retries_server_rejections_up_to_three_attempts(
    sandbox: C1Sandbox, client: BatonClient, tmp_path: Path
) -> None:
    path = write_c1z(tmp_path / "sync.c1z", blob_bytes=10_000)
    task_id = sandbox.enqueue_sync_full()
    client.get_task()

    sandbox.reject_next_uploads(2)
    client.upload_asset(task_id, path)
    assert len(sandbox.uploads(task_id)) == 1

    sandbox.reject_next_uploads(3)
    with pytest.raises(C1Error, match="UploadAsset.*3 attempts") as info:
        client.upload_asset(task_id, path)
    assert info.value.code == grpc.StatusCode.DATA_LOSS
    assert len(sandbox.uploads(task_id)) == 1
    assert sum(e.kind == "upload_rejected" for e in sandbox.events) == 5


def test_non_c1z_upload_is_rejected_without_retry(
    sandbox: C1Sandbox, client: BatonClient, tmp_path: Path
) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"this is not a c1z\n" * 100)
    task_id = sandbox.enqueue_sync_full()
    client.get_task()
    with pytest.raises(C1Error) as info:
        client.upload_asset(task_id, path)
    assert info.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "magic" in str(info.value)
    assert sum(e.kind == "upload_rejected" for e in sandbox.events) == 1
    assert sandbox.uploads(task_id) == []


def test_upload_for_a_grant_task_is_refused(
    sandbox: C1Sandbox, client: BatonClient, tmp_path: Path
) -> None:
    path = write_c1z(tmp_path / "sync.c1z", blob_bytes=100)
    task_id = sandbox.enqueue_grant("course:c1:assigned", "user:u1")
    client.get_task()
    with pytest.raises(C1Error) as info:
        client.upload_asset(task_id, path)
    assert info.value.code == grpc.StatusCode.FAILED_PRECONDITION


# --- UNAVAILABLE is ridden out --------------------------------------------------------------


@pytest.mark.parametrize("method", ["GetTask", "Heartbeat", "FinishTask"])
def test_unary_calls_retry_while_c1_is_unavailable(sandbox: C1Sandbox, client: BatonClient,
                                                   method: str) -> None:
    task_id = sandbox.enqueue_grant("course:c1:assigned", "user:u1")
    if method != "GetTask":
        client.get_task()
    sandbox.fail_next_calls(method, count=2)
    if method == "GetTask":
        task, _, _ = client.get_task()
        assert task is not None and task.id == task_id
    elif method == "Heartbeat":
        assert client.heartbeat(task_id) is False
    else:
        client.finish_task_success(task_id)
        assert sandbox.finished(task_id).outcome == "success"


def test_a_long_outage_still_surfaces(sandbox: C1Sandbox, client: BatonClient) -> None:
    task_id = sandbox.enqueue_grant("course:c1:assigned", "user:u1")
    client.get_task()
    sandbox.fail_next_calls("FinishTask", count=3)
    with pytest.raises(C1Error, match="FinishTask.*UNAVAILABLE"):
        client.finish_task_success(task_id)
    assert sandbox.finished(task_id) is None


def test_finish_whose_answer_was_lost_counts_as_done(sandbox: C1Sandbox,
                                                     tokens: TokenSource) -> None:
    # The first FinishTask lands but its answer is lost (UNAVAILABLE to the client); the
    # retry is refused as "already finished", which means the first one did it.
    task_id = sandbox.enqueue_grant("course:c1:assigned", "user:u1")
    with _client(sandbox, tokens) as client:
        client.get_task()
        real = client._stub.FinishTask
        calls: list[int] = []

        def lossy(request: object, **kwargs: object) -> object:
            calls.append(1)
            answer = real(request, **kwargs)
            if len(calls) == 1:
                raise _Unavailable()
            return answer

        client._stub.FinishTask = lossy  # type: ignore[method-assign]
        client.finish_task_success(task_id)
    assert len(calls) == 2 and sandbox.finished(task_id).outcome == "success"


class _Unavailable(grpc.RpcError, grpc.Call):  # type: ignore[misc]
    def code(self) -> grpc.StatusCode:
        return grpc.StatusCode.UNAVAILABLE

    def details(self) -> str:
        return "connection reset"

    def initial_metadata(self) -> None: ...
    def trailing_metadata(self) -> None: ...
    def is_active(self) -> bool: return False
    def time_remaining(self) -> None: ...
    def cancel(self) -> None: ...
    def add_callback(self, callback: object) -> None: ...
