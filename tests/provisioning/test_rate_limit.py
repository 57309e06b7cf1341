"""A task stopped by Litmos' rate limit tells C1 so: RateLimitDescription in FinishTask."""

from __future__ import annotations

import time

import pytest

from litmos_pipeline.c1.proto import connector_v2_pb2 as v2
from litmos_sandbox.litmos import FaultRule
from tests.provisioning.conftest import World


def _rate_limits(finish: object) -> list[v2.RateLimitDescription]:
    found = []
    for packed in finish.annotations:  # type: ignore[attr-defined]
        msg = v2.RateLimitDescription()
        if packed.Unpack(msg):
            found.append(msg)
    return found


def _grant_task(world: World) -> str:
    tenant = world.tenant
    user = next(u for u in tenant.users() if u.active)
    course = next(c for c in tenant.courses() if tenant.enrollment(user.id, c.id) is None)
    return world.c1.enqueue_grant(f"course:{course.id}:assigned", f"user:{user.id}")


def test_503s_past_the_retries_are_reported_over_the_limit(world: World) -> None:
    world.litmos.add_fault(FaultRule("503", count=None, path_prefix="/users"))
    before = time.time()
    ok, finish = world.run_task(_grant_task(world))
    assert not ok and finish is not None and finish.outcome == "error"
    assert not finish.non_retryable
    [limit] = _rate_limits(finish)
    assert limit.status == v2.RateLimitDescription.STATUS_OVERLIMIT
    assert (limit.limit, limit.remaining) == (100, 0)
    assert before + 59 <= limit.reset_at.ToNanoseconds() / 1e9 <= time.time() + 61


@pytest.mark.parametrize("kind", ["504"])
def test_other_failures_carry_no_rate_limit(world: World, kind: str) -> None:
    world.litmos.add_fault(FaultRule(kind, count=None, path_prefix="/users"))
    ok, finish = world.run_task(_grant_task(world))
    assert not ok and finish is not None and finish.outcome == "error"
    assert _rate_limits(finish) == []


def test_an_action_stopped_by_the_limit_says_so_too(world: World) -> None:
    user_id = next(u.id for u in world.tenant.users() if u.active)
    world.litmos.add_fault(FaultRule("503", count=None, path_prefix="/users"))
    ok, finish = world.run_task(world.c1.enqueue_action_invoke("disable_user", user_id))
    assert not ok and finish is not None and not finish.non_retryable
    assert len(_rate_limits(finish)) == 1
