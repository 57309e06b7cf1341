"""The provision job: each grant/revoke of the table, create-account, refusals, retries."""

from __future__ import annotations

import pytest

from litmos_pipeline.c1.proto import connector_v2_pb2 as v2
from litmos_sandbox.litmos import FaultRule
from tests.provisioning.conftest import World


def user_outside(world: World, team_id: str, role: str) -> str:
    lists = {"member": world.tenant.team_members, "leader": world.tenant.team_leaders,
             "admin": world.tenant.team_admins}
    holders = {u.id for u in lists[role](team_id)}
    return next(u.id for u in world.tenant.users() if u.id not in holders and u.active)


def test_course_grant_then_revoke(world: World) -> None:
    tenant = world.tenant
    user = next(u for u in tenant.users() if u.active)
    course = next(c for c in tenant.courses() if tenant.enrollment(user.id, c.id) is None)
    entitlement = f"course:{course.id}:assigned"
    grant_id = f"{entitlement}:user:{user.id}"

    ok, finish = world.run_task(world.c1.enqueue_grant(entitlement, f"user:{user.id}"))
    assert ok and finish is not None and finish.outcome == "success"
    response = v2.GrantManagerServiceGrantResponse()
    assert finish.response is not None and finish.response.Unpack(response)
    assert [g.id for g in response.grants] == [grant_id]
    assert tenant.enrollment(user.id, course.id) is not None
    assert {grant_id, f"course:{course.id}:in_progress:user:{user.id}"} <= world.grant_ids(user.id)
    audit = world.query("SELECT outcome, litmos_calls FROM provisioning_audit")
    assert audit[-1][0] == "succeeded" and f"POST /users/{user.id}/courses" in audit[-1][1]
    assert world.litmos.sendmessage_values()[-1] == "false"  # no notification email

    ok, finish = world.run_task(world.c1.enqueue_revoke(grant_id))
    assert ok and finish is not None and finish.outcome == "success"
    assert tenant.enrollment(user.id, course.id) is None
    assert not {g for g in world.grant_ids(user.id) if f"course:{course.id}:" in g}


@pytest.mark.parametrize("role", ["member", "leader", "admin"])
def test_team_role_grant_then_revoke(world: World, role: str) -> None:
    team = world.tenant.teams()[0]
    user_id = user_outside(world, team.id, role)
    lists = {"member": world.tenant.team_members, "leader": world.tenant.team_leaders,
             "admin": world.tenant.team_admins}
    grant_id = f"team:{team.id}:{role}:user:{user_id}"

    ok, finish = world.run_task(world.c1.enqueue_grant(f"team:{team.id}:{role}",
                                                       f"user:{user_id}"))
    assert ok and finish is not None and finish.outcome == "success"
    assert user_id in {u.id for u in lists[role](team.id)}
    assert grant_id in world.grant_ids(user_id)

    ok, finish = world.run_task(world.c1.enqueue_revoke(grant_id))
    assert ok and finish is not None and finish.outcome == "success"
    assert user_id not in {u.id for u in lists[role](team.id)}
    assert grant_id not in world.grant_ids(user_id)


def test_already_assigned_and_already_revoked_succeed(world: World) -> None:
    tenant = world.tenant
    course = tenant.courses()[0]
    enrolled = tenant.course_enrollments(course.id)[0].user_id
    ok, finish = world.run_task(world.c1.enqueue_grant(f"course:{course.id}:assigned",
                                                       f"user:{enrolled}"))
    assert ok and finish is not None and finish.outcome == "success"
    outsider = next(u.id for u in tenant.users() if tenant.enrollment(u.id, course.id) is None)
    ok, finish = world.run_task(
        world.c1.enqueue_revoke(f"course:{course.id}:assigned:user:{outsider}"))
    assert ok and finish is not None and finish.outcome == "success"
    assert tenant.enrollment(outsider, course.id) is None


def test_duplicate_delivery_has_one_effect(world: World) -> None:
    team = world.tenant.teams()[1]
    user_id = user_outside(world, team.id, "member")
    members_before = len(world.tenant.team_members(team.id))
    for _ in range(2):
        ok, finish = world.run_task(world.c1.enqueue_grant(f"team:{team.id}:member",
                                                           f"user:{user_id}"))
        assert ok and finish is not None and finish.outcome == "success"
    assert len(world.tenant.team_members(team.id)) == members_before + 1
    rows = world.query("SELECT count(*) FROM c1_grants WHERE grant_id = ?",
                       [f"team:{team.id}:member:user:{user_id}"])
    assert rows == [(1,)]


def test_create_account(world: World) -> None:
    task_id = world.c1.enqueue_create_account("new.hire", "new.hire@example.com", "New",
                                              "Hire")
    ok, finish = world.run_task(task_id)
    assert ok and finish is not None and finish.outcome == "success"
    response = v2.CreateAccountResponse()
    assert finish.response is not None and finish.response.Unpack(response)
    created = world.tenant.user("new.hire")
    assert created is not None and created.email == "new.hire@example.com"
    assert response.success.resource.id.resource == created.id
    # Delivered again: the same user, reported as already existing, no second account.
    ok, finish = world.run_task(world.c1.enqueue_create_account(
        "new.hire", "new.hire@example.com", "New", "Hire"))
    assert ok and finish is not None and finish.response.Unpack(response)
    assert response.WhichOneof("result") == "already_exists"
    assert sum(1 for u in world.tenant.users() if u.user_name == "new.hire") == 1


@pytest.mark.parametrize(("entitlement", "why"), [
    ("course:{course}:completed", "is a course state set by Litmos"),
    ("group:{course}:owner", "is not one of ours"),
    ("course:NoSuchCourse:assigned", "Litmos has no course NoSuchCourse"),
])
def test_refused_requests_are_non_retryable(world: World, entitlement: str, why: str) -> None:
    course = world.tenant.courses()[0]
    user = world.tenant.users()[0]
    ok, finish = world.run_task(world.c1.enqueue_grant(entitlement.format(course=course.id),
                                                       f"user:{user.id}"))
    assert not ok
    assert finish is not None and finish.outcome == "error" and finish.non_retryable
    assert why in finish.status_message


def test_course_outside_the_filter_is_refused(world: World) -> None:
    first, second = world.tenant.courses()[:2]
    user = world.tenant.users()[0]
    ok, finish = world.run_task(world.c1.enqueue_grant(f"course:{second.id}:assigned",
                                                       f"user:{user.id}"),
                                course_ids=first.id)
    assert not ok and finish is not None and finish.non_retryable
    assert "outside LITMOS_COURSE_IDS" in finish.status_message
    writes = [w for w in world.litmos.stats()["writes"] if second.id in w.get("path", "")]
    assert writes == []


def test_503_storm_is_retryable_not_success(world: World) -> None:
    tenant = world.tenant
    user = next(u for u in tenant.users() if u.active)
    course = next(c for c in tenant.courses() if tenant.enrollment(user.id, c.id) is None)
    world.litmos.add_fault(FaultRule("503", count=None, path_prefix="/users"))
    ok, finish = world.run_task(world.c1.enqueue_grant(f"course:{course.id}:assigned",
                                                       f"user:{user.id}"))
    assert not ok
    assert finish is not None and finish.outcome == "error" and not finish.non_retryable
    assert "gave up" in finish.status_message
    assert tenant.enrollment(user.id, course.id) is None


def test_dry_run_changes_nothing(world: World) -> None:
    tenant = world.tenant
    user = next(u for u in tenant.users() if u.active)
    course = next(c for c in tenant.courses() if tenant.enrollment(user.id, c.id) is None)
    before = world.grant_ids(user.id)
    writes_before = len(world.litmos.stats()["writes"])
    ok, finish = world.run_task(world.c1.enqueue_grant(f"course:{course.id}:assigned",
                                                       f"user:{user.id}"), dry_run=True)
    assert ok
    assert finish is not None and finish.outcome == "error"
    assert "dry run" in finish.status_message
    assert tenant.enrollment(user.id, course.id) is None
    assert world.grant_ids(user.id) == before
    assert len(world.litmos.stats()["writes"]) == writes_before
    audit = world.query("SELECT outcome, litmos_calls FROM provisioning_audit")
    assert audit[-1][0] == "dry_run" and f"POST /users/{user.id}/courses" in audit[-1][1]


def test_next_full_sync_agrees_with_provisioning(world: World) -> None:
    import dagster as dg

    from litmos_pipeline.defs.sync import sync_assets

    team = world.tenant.teams()[2]
    user_id = user_outside(world, team.id, "member")
    grant_id = f"team:{team.id}:member:user:{user_id}"
    ok, _ = world.run_task(world.c1.enqueue_grant(f"team:{team.id}:member", f"user:{user_id}"))
    assert ok and grant_id in world.grant_ids(user_id)
    assert world.query("SELECT source FROM grant_changes WHERE grant_id = ?",
                       [grant_id]) == [("provisioning",)]
    assert dg.materialize(sync_assets, instance=world.instance,
                          resources=world.resources()).success
    assert grant_id in world.grant_ids(user_id)
    # The sync found in Litmos what provisioning had already recorded: no change to report.
    assert world.query("SELECT count(*) FROM grant_changes WHERE grant_id = ? AND "
                       "source = 'sync'", [grant_id]) == [(0,)]


def test_provisioning_is_observed_and_shown_in_access_changes(world: World) -> None:
    """The sync's c1_grants materialization (figures, checks) stays the latest; the grant
    is an observation, and access_changes lists it at once, named."""
    import dagster as dg

    tenant = world.tenant
    user = next(u for u in tenant.users() if u.active)
    course = next(c for c in tenant.courses() if tenant.enrollment(user.id, c.id) is None)
    ok, _ = world.run_task(world.c1.enqueue_grant(f"course:{course.id}:assigned",
                                                  f"user:{user.id}"))
    assert ok
    latest = world.instance.get_latest_materialization_event(dg.AssetKey("c1_grants"))
    assert latest is not None and "sync_id" in latest.asset_materialization.metadata
    observed = world.instance.fetch_observations(dg.AssetKey("access_changes"), limit=1)
    [record] = observed.records
    assert record.asset_observation.metadata["added"].value >= 1
    rows = world.query("SELECT change, source, user_id, entitlement_name FROM access_changes "
                       "WHERE source = 'provisioning'")
    assert [(r[0], r[2]) for r in rows] == [("added", user.id)]
    assert rows[0][3] and course.name in rows[0][3]
