"""The C1 sandbox itself: queue semantics (fake clock), upload validation, the control API,
the token endpoint's request checks and the CLI."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest
import zstandard

from litmos_pipeline.c1.client import BatonClient, C1Error
from litmos_pipeline.c1.credentials import TokenSource
from litmos_pipeline.c1.proto import baton_v1_pb2 as baton
from litmos_pipeline.c1.proto import baton_v1_pb2_grpc as baton_grpc
from litmos_pipeline.c1.proto import connector_v2_pb2 as v2
from litmos_sandbox.c1 import C1Sandbox, main

Upload = baton.BatonServiceUploadAssetRequest


class FakeClock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture()
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture()
def sandbox(clock: FakeClock) -> Iterator[C1Sandbox]:
    with C1Sandbox(lease_timeout_s=30, clock=clock) as sb:
        yield sb


@pytest.fixture()
def tokens(sandbox: C1Sandbox, clock: FakeClock) -> Iterator[TokenSource]:
    client_id, client_secret = sandbox.register_client()
    with sandbox.token_source(client_id, client_secret, clock=clock) as ts:
        yield ts


@pytest.fixture()
def client(sandbox: C1Sandbox, tokens: TokenSource) -> Iterator[BatonClient]:
    with BatonClient(sandbox.grpc_target, tokens, host_id="worker-1") as c:
        yield c


def sqlite_bytes(tmp_path: Path) -> bytes:
    db = tmp_path / "tiny.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE v1_sync_runs (id INTEGER PRIMARY KEY, sync_id TEXT)")
    conn.execute("INSERT INTO v1_sync_runs (sync_id) VALUES ('x')")
    conn.commit()
    conn.close()
    return db.read_bytes()


# --- queue semantics --------------------------------------------------------------------------


def test_oldest_task_first_and_lease_lapse_without_sleeping(
    sandbox: C1Sandbox, client: BatonClient, clock: FakeClock
) -> None:
    first = sandbox.enqueue_sync_full()
    second = sandbox.enqueue_grant("course:c1:assigned", "user:u1")
    assert client.get_task()[0].id == first
    assert client.get_task()[0].id == second
    assert client.get_task()[0] is None

    clock.now += 20
    assert client.heartbeat(second) is False  # renews only the grant's lease
    clock.now += 15  # sync lease (30 s) lapsed, grant lease still has 15 s
    assert sandbox.task(first).state == "pending"
    assert sandbox.task(second).state == "leased"
    again = client.get_task()[0]
    assert again is not None and again.id == first
    assert sandbox.task(first).offers == 2
    assert any(e.kind == "lease_expired" and e.task_id == first for e in sandbox.events)


def test_a_late_heartbeat_reclaims_an_untaken_task(
    sandbox: C1Sandbox, client: BatonClient, clock: FakeClock
) -> None:
    task_id = sandbox.enqueue_sync_full()
    client.get_task()
    clock.now += 31
    assert client.heartbeat(task_id) is False
    assert sandbox.task(task_id).state == "leased"


def test_cancelled_pending_task_is_never_offered(sandbox: C1Sandbox, client: BatonClient) -> None:
    task_id = sandbox.enqueue_sync_full()
    sandbox.cancel(task_id)
    assert client.get_task()[0] is None
    assert sandbox.task(task_id).state == "cancelled"


def test_retryable_errors_can_be_requeued(clock: FakeClock) -> None:
    with C1Sandbox(requeue_retryable_errors=True, clock=clock) as sb:
        client_id, secret = sb.register_client()
        with (
            sb.token_source(client_id, secret, clock=clock) as ts,
            BatonClient(sb.grpc_target, ts, host_id="w") as c,
        ):
            task_id = sb.enqueue_grant("team:t1:member", "user:u1")
            later = sb.enqueue_grant("team:t1:member", "user:u2")
            assert c.get_task()[0].id == task_id
            c.finish_task_error(task_id, "Litmos answered 503", non_retryable=False)
            assert sb.task(task_id).state == "pending"
            assert c.get_task()[0].id == task_id, "re-offered, still the oldest"
            c.finish_task_error(task_id, "no such user", non_retryable=True)
            assert sb.task(task_id).state == "finished"
            assert c.get_task()[0].id == later
            assert sb.task(task_id).offers == 2


def test_heartbeat_for_unknown_task_is_not_found(client: BatonClient) -> None:
    with pytest.raises(C1Error) as info:
        client.heartbeat("0" * 27)
    assert info.value.code == grpc.StatusCode.NOT_FOUND


def test_expired_bearer_token_is_unauthenticated(
    sandbox: C1Sandbox, tokens: TokenSource, clock: FakeClock
) -> None:
    stub = baton_grpc.BatonServiceStub(grpc.insecure_channel(sandbox.grpc_target))
    md = (("authorization", tokens.authorization()),)
    stub.GetTask(baton.BatonServiceGetTaskRequest(host_id="w"), metadata=md)
    clock.now += sandbox.token_lifetime_s + 1
    with pytest.raises(grpc.RpcError) as info:
        stub.GetTask(baton.BatonServiceGetTaskRequest(host_id="w"), metadata=md)
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.RpcError) as missing:
        stub.GetTask(baton.BatonServiceGetTaskRequest(host_id="w"))
    assert missing.value.code() == grpc.StatusCode.UNAUTHENTICATED


# --- upload validation (raw stream, to send what our client never would) ------------------------


def _raw_upload(sandbox: C1Sandbox, tokens: TokenSource, messages: list[Upload]) -> grpc.StatusCode:
    with grpc.insecure_channel(sandbox.grpc_target) as channel:
        stub = baton_grpc.BatonServiceStub(channel)
        try:
            stub.UploadAsset(
                iter(messages), metadata=(("authorization", tokens.authorization()),), timeout=10
            )
        except grpc.RpcError as exc:
            return exc.code()
    return grpc.StatusCode.OK


def _stream(task_id: str, payload: bytes, checksum: bytes | None = None) -> list[Upload]:
    return [
        Upload(metadata=Upload.UploadMetadata(host_id="w", task_id=task_id)),
        Upload(data=Upload.UploadData(data=payload)),
        Upload(eof=Upload.UploadEOF(sha256_checksum=checksum or hashlib.sha256(payload).digest())),
    ]


def test_upload_validation(sandbox: C1Sandbox, tokens: TokenSource, tmp_path: Path) -> None:
    task_id = sandbox.enqueue_sync_full()
    db = sqlite_bytes(tmp_path)
    good = b"C1ZF\x00" + zstandard.ZstdCompressor().compress(db)
    cases = {
        "metadata not first": (_stream(task_id, good)[1:], grpc.StatusCode.INVALID_ARGUMENT),
        "unknown task": (_stream("1" * 27, good), grpc.StatusCode.NOT_FOUND),
        "no eof": (_stream(task_id, good)[:2], grpc.StatusCode.INVALID_ARGUMENT),
        "after eof": (
            _stream(task_id, good) + [Upload(data=Upload.UploadData(data=b"x"))],
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
        "bad checksum": (_stream(task_id, good, bytes(32)), grpc.StatusCode.DATA_LOSS),
        "short checksum": (_stream(task_id, good, b"abc"), grpc.StatusCode.INVALID_ARGUMENT),
        "wrong magic": (_stream(task_id, b"C1Z3\x00" + good[5:]), grpc.StatusCode.INVALID_ARGUMENT),
        "not zstd": (_stream(task_id, b"C1ZF\x00" + db), grpc.StatusCode.INVALID_ARGUMENT),
        "not sqlite": (
            _stream(task_id, b"C1ZF\x00" + zstandard.ZstdCompressor().compress(b"hello" * 100)),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
        "chunk over 1 MiB": (
            _stream(task_id, b"C1ZF\x00" + os.urandom(1024 * 1024)),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
    }
    for name, (messages, expected) in cases.items():
        assert _raw_upload(sandbox, tokens, messages) == expected, name
    assert sandbox.uploads() == []
    assert not list((sandbox.data_dir / "incoming").iterdir()), "rejected bytes are removed"

    assert _raw_upload(sandbox, tokens, _stream(task_id, good)) == grpc.StatusCode.OK
    [upload] = sandbox.uploads(task_id)
    assert upload.tables == ("v1_sync_runs",) and upload.row_counts == {"v1_sync_runs": 1}


# --- token endpoint request checks --------------------------------------------------------------


def test_token_endpoint_rejects_malformed_requests(sandbox: C1Sandbox) -> None:
    bad_grant = httpx.post(sandbox.token_url, data={"grant_type": "password"})
    assert (bad_grant.status_code, bad_grant.json()["error"]) == (400, "unsupported_grant_type")
    missing = httpx.post(
        sandbox.token_url,
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        },
    )
    assert missing.status_code == 400
    as_json = httpx.post(sandbox.token_url, json={"grant_type": "client_credentials"})
    assert as_json.status_code == 400


# --- control API --------------------------------------------------------------------------------


def test_control_api_drives_the_sandbox(sandbox: C1Sandbox, client: BatonClient) -> None:
    api = sandbox.api_url + "/_sandbox"
    registered = httpx.post(f"{api}/clients", json={"name": "demo"}).json()
    assert registered["client_id"].startswith("demo-")
    assert registered["client_id"].endswith("@sandbox.conductor.one/pcc")
    assert registered["client_secret"].startswith("secret-token:conductorone.com:v1:")

    sync_id = httpx.post(f"{api}/tasks/sync_full").json()["task_id"]
    grant_id = httpx.post(
        f"{api}/tasks/grant", json={"entitlement_id": "course:c9:assigned", "principal": "user:u3"}
    ).json()["task_id"]
    revoke_id = httpx.post(
        f"{api}/tasks/revoke", json={"grant_id": "course:c9:assigned:user:u3"}
    ).json()["task_id"]
    account_id = httpx.post(
        f"{api}/tasks/create_account",
        json={"login": "a", "email": "a@example.com", "given_name": "A", "family_name": "B"},
    ).json()["task_id"]
    proto_grant_id = httpx.post(
        f"{api}/tasks/grant",
        json={
            "entitlement": {"id": "team:t1:member", "slug": "member"},
            "principal": {"id": {"resource_type": "user", "resource": "u9"}},
        },
    ).json()["task_id"]

    tasks = httpx.get(f"{api}/tasks").json()["tasks"]
    assert [(t["task_id"], t["kind"]) for t in tasks] == [
        (sync_id, "sync_full"),
        (grant_id, "grant"),
        (revoke_id, "revoke"),
        (account_id, "create_account"),
        (proto_grant_id, "grant"),
    ]
    grant = httpx.get(f"{api}/tasks/{grant_id}").json()
    assert grant["task"]["grant"]["principal"]["id"] == {"resource_type": "user", "resource": "u3"}

    assert httpx.post(f"{api}/tasks/{revoke_id}/cancel").json()["cancel_requested"] is True
    assert httpx.get(f"{api}/tasks/{revoke_id}").json()["state"] == "cancelled"

    client.get_task()
    task, _, _ = client.get_task()
    assert task is not None and task.id == grant_id
    client.finish_task_success(grant_id, v2.GrantManagerServiceGrantResponse())
    finishes = httpx.get(f"{api}/finishes", params={"task_id": grant_id}).json()["finishes"]
    assert len(finishes) == 1 and finishes[0]["outcome"] == "success"
    assert finishes[0]["response"]["@type"].endswith("GrantManagerServiceGrantResponse")

    assert httpx.get(f"{api}/uploads").json() == {"uploads": []}
    assert httpx.post(f"{api}/uploads/reject_next", json={"count": 2}).json() == {
        "rejecting_next": 2
    }
    assert httpx.get(f"{api}/health").json()["grpc_target"] == sandbox.grpc_target
    events = httpx.get(f"{api}/events").json()["events"]
    assert any(e["kind"] == "task_finished" and e["task_id"] == grant_id for e in events)


def test_control_api_errors(sandbox: C1Sandbox) -> None:
    api = sandbox.api_url + "/_sandbox"
    assert httpx.get(f"{api}/nope").status_code == 404
    assert httpx.get(f"{api}/tasks/{'0' * 27}").status_code == 404
    assert httpx.post(f"{api}/tasks/{'0' * 27}/cancel").status_code == 404
    bad_id = httpx.post(
        f"{api}/tasks/grant", json={"entitlement_id": "course-only", "principal": "user:u1"}
    )
    assert bad_id.status_code == 400 and "entitlement id" in bad_id.json()["error"]
    assert httpx.post(f"{api}/tasks/grant", json={}).status_code == 400
    assert httpx.post(f"{api}/tasks/create_account", json={"login": "x"}).status_code == 400
    assert httpx.post(f"{api}/tasks/sync_full", content=b"[1]").status_code == 400


# --- CLI ----------------------------------------------------------------------------------------


def test_cli_control_commands(sandbox: C1Sandbox, capsys: pytest.CaptureFixture[str]) -> None:
    url = sandbox.api_url
    assert main(["enqueue-sync", "--api-url", url]) == 0
    sync_id = json.loads(capsys.readouterr().out)["task_id"]
    assert (
        main(
            [
                "enqueue-grant",
                "--api-url",
                url,
                "--entitlement",
                "team:t1:member",
                "--principal",
                "user:u1",
            ]
        )
        == 0
    )
    grant_id = json.loads(capsys.readouterr().out)["task_id"]
    assert main(["tasks", "--api-url", url]) == 0
    listed = json.loads(capsys.readouterr().out)["tasks"]
    assert [t["task_id"] for t in listed] == [sync_id, grant_id]
    assert main(["finishes", "--api-url", url]) == 0
    assert json.loads(capsys.readouterr().out) == {"finishes": []}

    assert (
        main(["enqueue-grant", "--api-url", url, "--entitlement", "bad", "--principal", "user:u1"])
        == 1
    )
    assert "HTTP 400" in capsys.readouterr().err


def test_cli_reports_an_unreachable_sandbox(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tasks", "--api-url", "http://127.0.0.1:9"]) == 2
    assert "cannot reach" in capsys.readouterr().err


def test_cli_serve_prints_ready_line_and_stops_on_sigterm() -> None:
    code = "from litmos_sandbox.c1 import main; raise SystemExit(main(['serve']))"
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        ready = json.loads(proc.stdout.readline())
        assert set(ready) >= {"api_url", "grpc_target", "client_id", "client_secret", "pid"}
        assert ready["pid"] == proc.pid
        assert ready["api_url"].startswith("http://127.0.0.1:")
        health = httpx.get(ready["api_url"] + "/_sandbox/health").json()
        assert health["grpc_target"] == ready["grpc_target"]
        # The printed credentials work against the running sandbox.
        with (
            TokenSource(
                ready["client_id"], ready["client_secret"], ready["api_url"] + "/auth/v1/token"
            ) as ts,
            BatonClient(ready["grpc_target"], ts, host_id="cli") as c,
        ):
            assert c.get_task()[0] is None
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_targeted_sync_and_action_tasks_over_the_control_api(
    sandbox: C1Sandbox, client: BatonClient
) -> None:
    api = sandbox.api_url + "/_sandbox"
    sync_id = httpx.post(f"{api}/tasks/sync_full", json={
        "targets": ["course:c9"], "resource_type_ids": ["course"], "skip_grants": True,
    }).json()["task_id"]
    invoke_id = httpx.post(f"{api}/tasks/action_invoke", json={
        "name": "disable_user", "user_id": "u3"}).json()["task_id"]
    status_id = httpx.post(f"{api}/tasks/action_status",
                           json={"id": invoke_id}).json()["task_id"]
    sync, _, _ = client.get_task()
    assert sync is not None and sync.id == sync_id
    [target] = sync.sync_full.targeted_sync_resources
    assert (target.id.resource_type, target.id.resource) == ("course", "c9")
    assert list(sync.sync_full.sync_resource_type_ids) == ["course"]
    assert sync.sync_full.skip_grants and not sync.sync_full.skip_entitlements_and_grants
    invoke, _, _ = client.get_task()
    assert invoke is not None and invoke.id == invoke_id
    assert invoke.action_invoke.name == "disable_user"
    assert invoke.action_invoke.args.fields["resource_id"].string_value == "u3"
    assert invoke.action_invoke.resource_type_id == "user"
    status, _, _ = client.get_task()
    assert status is not None and status.id == status_id
    assert status.action_status.id == invoke_id
    client.hello()
    assert "CAPABILITY_ACTIONS" in httpx.get(f"{api}/capabilities").json()["capabilities"]
