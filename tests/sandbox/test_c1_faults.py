"""The C1 sandbox's injected failures, seen through the production clients: the token
endpoint answering 500 or hanging up, UNAVAILABLE for the next calls of a method, and an
upload stream reset half way."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest
import zstandard

from litmos_pipeline.c1.client import BatonClient
from litmos_pipeline.c1.credentials import C1TokenError, TokenSource
from litmos_pipeline.c1.proto import baton_v1_pb2 as baton
from litmos_pipeline.c1.proto import baton_v1_pb2_grpc as baton_grpc
from litmos_sandbox.c1 import C1Sandbox
from tests.sandbox.test_c1_server import _raw_upload, _stream


@pytest.fixture()
def sandbox() -> Iterator[C1Sandbox]:
    with C1Sandbox(lease_timeout_s=30) as sb:
        yield sb


@pytest.fixture()
def tokens(sandbox: C1Sandbox) -> Iterator[TokenSource]:
    client_id, client_secret = sandbox.register_client()
    with sandbox.token_source(client_id, client_secret) as ts:
        yield ts


@pytest.fixture()
def client(sandbox: C1Sandbox, tokens: TokenSource) -> Iterator[BatonClient]:
    with BatonClient(sandbox.grpc_target, tokens, host_id="w", retry_backoff_s=0.01) as c:
        yield c


def c1z_bytes(tmp_path: Path) -> bytes:
    db = tmp_path / "t.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE v1_sync_runs (id INTEGER PRIMARY KEY)")
    return b"C1ZF\x00" + zstandard.ZstdCompressor().compress(db.read_bytes())


def test_token_endpoint_500_then_down_then_serves(sandbox: C1Sandbox) -> None:
    sandbox.fail_next_token_requests(1, "500")
    sandbox.fail_next_token_requests(1, "down")
    form = {"grant_type": "client_credentials"}
    assert httpx.post(sandbox.token_url, data=form).status_code == 500
    with pytest.raises(httpx.TransportError):
        httpx.post(sandbox.token_url, data=form)
    assert httpx.post(sandbox.token_url, data=form).status_code == 400  # served again
    with pytest.raises(ValueError):
        sandbox.fail_next_token_requests(1, "slow")


def test_token_fault_reaches_the_token_source(sandbox: C1Sandbox, tokens: TokenSource) -> None:
    sandbox.fail_next_token_requests(1, "500")
    with pytest.raises(C1TokenError):
        tokens.authorization()
    assert tokens.authorization().startswith("Bearer ")


def raw_call(sandbox: C1Sandbox, tokens: TokenSource, method: str,
             task_id: str) -> grpc.StatusCode:
    """One call on a bare stub (the production client retries UNAVAILABLE itself)."""
    requests = {
        "GetTask": baton.BatonServiceGetTaskRequest(host_id="w"),
        "Heartbeat": baton.BatonServiceHeartbeatRequest(host_id="w", task_id=task_id),
        "FinishTask": baton.BatonServiceFinishTaskRequest(
            host_id="w", task_id=task_id,
            success=baton.BatonServiceFinishTaskRequest.Success()),
    }
    with grpc.insecure_channel(sandbox.grpc_target) as channel:
        stub = baton_grpc.BatonServiceStub(channel)
        try:
            getattr(stub, method)(requests[method], timeout=10,
                                  metadata=(("authorization", tokens.authorization()),))
        except grpc.RpcError as exc:
            return exc.code()
    return grpc.StatusCode.OK


@pytest.mark.parametrize("method", ["GetTask", "Heartbeat", "FinishTask"])
def test_unavailable_for_the_next_calls(sandbox: C1Sandbox, tokens: TokenSource,
                                        client: BatonClient, method: str) -> None:
    task_id = sandbox.enqueue_sync_full()
    if method != "GetTask":
        assert client.get_task()[0] is not None
    sandbox.fail_next_calls(method, 2)
    codes = [raw_call(sandbox, tokens, method, task_id) for _ in range(3)]
    assert codes == [grpc.StatusCode.UNAVAILABLE] * 2 + [grpc.StatusCode.OK]
    if method == "FinishTask":
        assert sandbox.finished(task_id) is not None
    faults = [e for e in sandbox.events if e.kind == "fault_injected"]
    assert len(faults) == 2 and method in faults[0].detail
    with pytest.raises(ValueError):
        sandbox.fail_next_calls("Nope")


def test_upload_stream_cut_half_way(sandbox: C1Sandbox, tokens: TokenSource,
                                    client: BatonClient, tmp_path: Path) -> None:
    task_id = sandbox.enqueue_sync_full()
    good = c1z_bytes(tmp_path)
    sandbox.cut_next_uploads(1)
    assert _raw_upload(sandbox, tokens, _stream(task_id, good)) == grpc.StatusCode.UNAVAILABLE
    assert sandbox.uploads() == []
    assert not list((sandbox.data_dir / "incoming").iterdir())
    path = tmp_path / "x.c1z"
    path.write_bytes(good)
    sandbox.cut_next_uploads(1)
    client.upload_asset(task_id, path)  # the client's retry gets through the second time
    assert len(sandbox.uploads(task_id)) == 1


def test_faults_through_the_control_api(sandbox: C1Sandbox, client: BatonClient) -> None:
    api = sandbox.api_url + "/_sandbox"
    assert httpx.post(f"{api}/faults/grpc", json={"method": "GetTask"}).status_code == 200
    assert sandbox._take_grpc_fault("GetTask") == grpc.StatusCode.UNAVAILABLE
    assert httpx.post(f"{api}/faults/token", json={"count": 1}).status_code == 200
    assert httpx.post(sandbox.token_url, data={}).status_code == 500
    assert httpx.post(f"{api}/uploads/cut_next", json={"count": 1}).status_code == 200
    assert sandbox._cut_uploads == 1
    assert httpx.post(f"{api}/faults/grpc", json={"method": "X"}).status_code == 400
