"""Learning-path assignment through the provision job: the same validation, idempotency,
read-back, audit and dry run as course assignment."""

from __future__ import annotations

from litmos_pipeline.c1.proto import connector_v2_pb2 as v2
from tests.provisioning.conftest import World


def _outsider(world: World, path_id: str) -> str:
    holders = {u.id for u in world.tenant.learning_path_users(path_id)}
    return next(u.id for u in world.tenant.users() if u.active and u.id not in holders)


def _holders(world: World, path_id: str) -> set[str]:
    return {u.id for u in world.tenant.learning_path_users(path_id)}


def test_learning_path_grant_then_revoke(world: World) -> None:
    path = world.tenant.learning_paths()[0]
    user_id = _outsider(world, path.id)
    entitlement = f"learning_path:{path.id}:assigned"
    grant_id = f"{entitlement}:user:{user_id}"

    ok, finish = world.run_task(world.c1.enqueue_grant(entitlement, f"user:{user_id}"))
    assert ok and finish is not None and finish.outcome == "success"
    response = v2.GrantManagerServiceGrantResponse()
    assert finish.response is not None and finish.response.Unpack(response)
    assert [g.id for g in response.grants] == [grant_id]
    assert user_id in _holders(world, path.id)
    assert grant_id in world.grant_ids(user_id)
    audit = world.query("SELECT outcome, litmos_calls FROM provisioning_audit")
    assert audit[-1][0] == "succeeded"
    assert f"POST /users/{user_id}/learningpaths [{path.id}]" in audit[-1][1]
    assert world.litmos.sendmessage_values()[-1] == "false"

    ok, finish = world.run_task(world.c1.enqueue_revoke(grant_id))
    assert ok and finish is not None and finish.outcome == "success"
    assert user_id not in _holders(world, path.id)
    assert grant_id not in world.grant_ids(user_id)
    audit = world.query("SELECT outcome, litmos_calls FROM provisioning_audit")
    assert f"DELETE /users/{user_id}/learningpaths/{path.id}" in audit[-1][1]


def test_already_assigned_and_already_revoked_succeed(world: World) -> None:
    path = world.tenant.learning_paths()[0]
    holder = sorted(_holders(world, path.id))[0]
    before = _holders(world, path.id)
    ok, finish = world.run_task(world.c1.enqueue_grant(f"learning_path:{path.id}:assigned",
                                                       f"user:{holder}"))
    assert ok and finish is not None and finish.outcome == "success"
    outsider = _outsider(world, path.id)
    ok, finish = world.run_task(
        world.c1.enqueue_revoke(f"learning_path:{path.id}:assigned:user:{outsider}"))
    assert ok and finish is not None and finish.outcome == "success"
    assert _holders(world, path.id) == before


def test_unknown_learning_path_is_refused(world: World) -> None:
    user = world.tenant.users()[0]
    ok, finish = world.run_task(world.c1.enqueue_grant("learning_path:NoSuchPath01:assigned",
                                                       f"user:{user.id}"))
    assert not ok and finish is not None and finish.non_retryable
    assert "Litmos has no learning_path NoSuchPath01" in finish.status_message


def test_dry_run_changes_nothing(world: World) -> None:
    path = world.tenant.learning_paths()[1]
    user_id = _outsider(world, path.id)
    writes_before = len(world.litmos.stats()["writes"])
    ok, finish = world.run_task(world.c1.enqueue_grant(f"learning_path:{path.id}:assigned",
                                                       f"user:{user_id}"), dry_run=True)
    assert ok and finish is not None and "dry run" in finish.status_message
    assert user_id not in _holders(world, path.id)
    assert len(world.litmos.stats()["writes"]) == writes_before
    audit = world.query("SELECT outcome, litmos_calls FROM provisioning_audit")
    assert audit[-1][0] == "dry_run" and f"POST /users/{user_id}/learningpaths" in audit[-1][1]
