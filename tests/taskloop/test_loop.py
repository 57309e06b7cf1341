"""The task protocol room's state: held by objects, once per loop, never by the module."""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

import pytest

import litmos_pipeline.taskloop as taskloop
from litmos_pipeline.c1.credentials import default_token_url, generate_client_credentials
from litmos_pipeline.c1.proto import baton_v1_pb2 as baton
from litmos_pipeline.defs.resources import C1Resource
from litmos_pipeline.provisioning.flow import Action, Result
from litmos_pipeline.taskloop.finish import DRY_RUN_REASON, Outcome, provision_outcome
from litmos_pipeline.taskloop.loop import TaskLoop, TokenCache
from litmos_pipeline.taskloop.requests import Limits, RunTargets, provision_requests, run_key

CLIENT_ID, SECRET = generate_client_credentials("acme.conductor.one")
OTHER_ID, OTHER_SECRET = generate_client_credentials("acme.conductor.one", name="other")
TOKEN_URL = default_token_url("acme.conductor.one")
TARGETS = RunTargets(sync_job="litmos_sync", provision_job="litmos_provision",
                     provision_op="provision_task")


class FakeClient:
    """What TaskLoop.hello_once uses of a BatonClient."""

    def __init__(self, host_id: str) -> None:
        self.host_id = host_id
        self.hellos = 0

    def hello(self) -> None:
        self.hellos += 1


def test_hello_is_sent_once_per_host_per_loop() -> None:
    loop = TaskLoop()
    first, again, other = FakeClient("h1"), FakeClient("h1"), FakeClient("h2")
    assert loop.hello_once(first) is True  # type: ignore[arg-type]
    assert loop.hello_once(again) is False  # type: ignore[arg-type]
    assert loop.hello_once(other) is True  # type: ignore[arg-type]
    assert (first.hellos, again.hellos, other.hellos) == (1, 0, 1)
    # A new loop (a reloaded code location) says Hello again: nothing is kept by the module.
    fresh = FakeClient("h1")
    assert TaskLoop().hello_once(fresh) is True  # type: ignore[arg-type]
    assert fresh.hellos == 1


def test_a_failed_hello_is_tried_again_on_the_next_tick() -> None:
    class Refused(FakeClient):
        def hello(self) -> None:
            raise RuntimeError("C1 is down")

    loop = TaskLoop()
    with pytest.raises(RuntimeError):
        loop.hello_once(Refused("h1"))  # type: ignore[arg-type]
    client = FakeClient("h1")
    assert loop.hello_once(client) is True  # type: ignore[arg-type]


def test_token_source_is_reused_per_client_id() -> None:
    cache = TokenCache()
    source = cache.source(CLIENT_ID, SECRET, TOKEN_URL)
    assert cache.source(CLIENT_ID, SECRET, TOKEN_URL) is source
    assert cache.source(OTHER_ID, OTHER_SECRET, TOKEN_URL) is not source
    assert TokenCache().source(CLIENT_ID, SECRET, TOKEN_URL) is not source  # per object
    cache.close()
    assert cache.source(CLIENT_ID, SECRET, TOKEN_URL) is not source  # closed: afresh


def test_clients_share_the_token_of_the_cache_they_are_given() -> None:
    loop = TaskLoop()
    tick_1, tick_2 = (C1Resource(client_id=CLIENT_ID, client_secret=SECRET,
                                 grpc_target="127.0.0.1:1") for _ in range(2))
    with tick_1.client(loop.tokens) as a, tick_2.client(loop.tokens) as b:
        assert a._tokens is b._tokens  # two ticks' resources, one token
    run = C1Resource(client_id=CLIENT_ID, client_secret=SECRET, grpc_target="127.0.0.1:1")
    with run.client() as a, run.client() as b:
        assert a._tokens is b._tokens  # one run's clients share the resource's cache
    with run.client() as c, tick_1.client(loop.tokens) as d:
        assert c._tokens is not d._tokens


def test_the_room_keeps_no_mutable_module_state() -> None:
    mutable = (dict, set, list, bytearray)
    found = []
    for info in pkgutil.iter_modules(taskloop.__path__):
        module = importlib.import_module(f"{taskloop.__name__}.{info.name}")
        found += [f"{info.name}.{name}" for name, value in vars(module).items()
                  if isinstance(value, mutable) and not name.startswith("__")]
    assert found == []


def _grant(n: int) -> baton.Task:
    return baton.Task(id=f"t{n}", grant=baton.Task.GrantTask())


@pytest.mark.parametrize(("tasks", "limits", "sizes"), [
    (1, Limits(), [1]),
    (45, Limits(), [3] * 15),
    (5, Limits(runs_per_tick=2), [3, 2]),
    (60, Limits(runs_per_tick=20, tasks_per_run=2), [2] * 30),
])
def test_approvals_are_batched_by_the_loop_limits(tasks: int, limits: Limits,
                                                  sizes: list[int]) -> None:
    approvals = [(_grant(n), 0) for n in range(tasks)]
    requests = provision_requests(approvals, TARGETS, 30.0, limits)
    config: list[Any] = [r.run_config["ops"]["provision_task"]["config"]["tasks"]
                         for r in requests]
    assert [len(c) for c in config] == sizes
    assert requests[0].run_key == ("t0" if sizes[0] == 1 else f"t0+{sizes[0] - 1}")


def test_run_keys_count_the_attempts() -> None:
    assert run_key(_grant(7), 0) == "t7"
    assert run_key(_grant(7), 2) == "t7#2"


def test_provision_outcome_says_what_c1_is_told() -> None:
    action = Action(kind="revoke")
    assert provision_outcome("revoke", Result(action, calls=[]), None, False, False).succeeded
    dry = provision_outcome("revoke", Result(action, calls=[]), None, True, False)
    assert dry == Outcome.failure(DRY_RUN_REASON, retryable=False)
    failed = provision_outcome("revoke", None, RuntimeError("429"), False, True)
    assert (failed.error, failed.retryable, failed.response) == ("429", True, None)
