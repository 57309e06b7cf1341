"""Grant and revoke tasks whose ids could re-target a Litmos path are refused (issue 12)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from litmos_pipeline.c1.proto import baton_v1_pb2 as baton
from litmos_pipeline.c1.proto import connector_v2_pb2 as v2
from litmos_pipeline.provisioning.flow import TaskRefused, action_for
from tests.provisioning.conftest import World


def _resource(resource_type: str, resource_id: str) -> v2.Resource:
    return v2.Resource(id=v2.ResourceId(resource_type=resource_type, resource=resource_id))


def _entitlement(entitlement_id: str) -> v2.Entitlement:
    # Built by hand: the C1 sandbox's helpers parse ids, and would refuse these first.
    resource_type, resource_id, slug = entitlement_id.split(":")
    return v2.Entitlement(id=entitlement_id, slug=slug,
                          resource=_resource(resource_type, resource_id))


def grant_task(entitlement_id: str, user_id: str) -> baton.Task:
    return baton.Task(grant=baton.Task.GrantTask(entitlement=_entitlement(entitlement_id),
                                                 principal=_resource("user", user_id)))


def revoke_task(entitlement_id: str, user_id: str) -> baton.Task:
    grant = v2.Grant(id=f"{entitlement_id}:user:{user_id}",
                     entitlement=_entitlement(entitlement_id),
                     principal=_resource("user", user_id))
    return baton.Task(revoke=baton.Task.RevokeTask(grant=grant))


@pytest.mark.parametrize("make", [grant_task, revoke_task])
@pytest.mark.parametrize(("entitlement", "user", "bad"), [
    ("course:..:assigned", "u1", "'..'"),
    ("course:c1:assigned", "..", "'..'"),
    ("team:.:member", "u1", "'.'"),
    ("team:t1:leader", "u1/../u2", "'u1/../u2'"),
    ("team:t1:admin", "%2E%2E", "'%2E%2E'"),
    ("course:c1:assigned", "u1\r\n", r"'u1\r\n'"),
])
def test_action_for_refuses_ids_no_litmos_id_looks_like(
        make: Callable[[str, str], baton.Task], entitlement: str, user: str, bad: str) -> None:
    task = make(entitlement, user)
    with pytest.raises(TaskRefused) as err:
        action_for(task)
    assert bad in str(err.value) and "a Litmos id is" in str(err.value)


def test_refused_non_retryable_and_litmos_is_not_touched(world: World) -> None:
    """Before the fix: a revoke from user `..` read GET /users/.. (that is, /v1.svc/),
    found "no user", and reported success; a grant of `course:..:assigned` asked Litmos."""
    course = world.tenant.courses()[0]
    user = next(u for u in world.tenant.users() if u.active)
    tasks = [grant_task("course:..:assigned", user.id),
             revoke_task(f"course:{course.id}:assigned", ".."),
             grant_task(f"team:{world.tenant.teams()[0].id}:member", "..")]
    before = world.litmos.stats()["total_requests"]
    for task in tasks:
        ok, finish = world.run_task(world.c1.enqueue_task(task))
        assert not ok
        assert finish is not None and finish.outcome == "error" and finish.non_retryable
        assert "'..'" in finish.status_message and "a Litmos id is" in finish.status_message
    assert world.litmos.stats()["total_requests"] == before
