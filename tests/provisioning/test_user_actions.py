"""Disable / enable a Litmos user as C1 resource actions: invoked through the provisioning
job, PUT /users/{id} with the whole record in Litmos' order, read back, audited."""

from __future__ import annotations

import httpx
import pytest
from google.protobuf import struct_pb2

from litmos_pipeline.c1.actions import user_id_arg
from litmos_pipeline.c1.proto import connector_v2_pb2 as v2
from litmos_pipeline.catalog.user import USER_RECORD_ORDER
from litmos_pipeline.provisioning.user_actions import write_body
from litmos_pipeline.taskloop.actions import action_status
from litmos_sandbox.litmos.endpoints import in_documented_order
from litmos_sandbox.litmos.tenant import USER_FIELDS
from tests.provisioning.conftest import World


def _response(finish: object) -> v2.InvokeActionResponse:
    response = v2.InvokeActionResponse()
    assert finish is not None and finish.response is not None  # type: ignore[attr-defined]
    assert finish.response.Unpack(response)  # type: ignore[attr-defined]
    return response


def _learner(world: World) -> str:
    return next(u.id for u in world.tenant.users()
                if u.active and u.access_level == "Learner")


def test_the_write_order_is_the_order_litmos_answers_in() -> None:
    assert USER_RECORD_ORDER == USER_FIELDS
    record = {name: "x" for name in reversed(USER_FIELDS)}
    body = write_body(record, active=False)
    assert in_documented_order(body) and body["Active"] == "false"
    assert "LoginKey" not in body and "Password" not in body


def test_the_sandbox_ignores_an_update_out_of_order(world: World) -> None:
    user_id = _learner(world)
    with httpx.Client(base_url=world.litmos.base_url,
                      headers={"apikey": world.litmos.api_key},
                      params={"source": "pytest", "format": "json"}) as http:
        answer = http.put(f"/users/{user_id}", json={"Active": False, "FirstName": "Z"})
    assert answer.status_code == 200
    assert world.tenant.user(user_id).active  # type: ignore[union-attr]


def test_disable_then_enable(world: World) -> None:
    user_id = _learner(world)
    ok, finish = world.run_task(world.c1.enqueue_action_invoke("disable_user", user_id))
    assert ok and finish is not None and finish.outcome == "success"
    response = _response(finish)
    assert response.status == v2.BATON_ACTION_STATUS_COMPLETE
    assert response.name == "disable_user" and response.id == finish.task_id
    assert dict(response.response) == {"user_id": user_id, "changed": True, "active": False}
    assert not world.tenant.user(user_id).active  # type: ignore[union-attr]
    audit = world.query("SELECT task_kind, principal_id, outcome, litmos_calls "
                        "FROM provisioning_audit WHERE task_id = ?", [finish.task_id])
    assert audit == [("action_invoke", user_id, "succeeded",
                      f"PUT /users/{user_id} (whole record, Active=false)")]
    status = "SELECT user_status FROM c1_resources WHERE resource_id = ?"
    assert world.query(status, [user_id]) == [(2,)]  # the published user shows it at once
    # Delivered again: Litmos already has it so; nothing is written.
    ok, finish = world.run_task(world.c1.enqueue_action_invoke("disable_user", user_id))
    assert ok and dict(_response(finish).response)["changed"] is False
    ok, finish = world.run_task(world.c1.enqueue_action_invoke("enable_user", user_id))
    assert ok and world.tenant.user(user_id).active  # type: ignore[union-attr]
    assert world.query(status, [user_id]) == [(1,)]


def test_the_account_owner_is_never_disabled(world: World) -> None:
    user_id = _learner(world)
    world.tenant.update_user(user_id, {"AccessLevel": "Account_Owner"})
    ok, finish = world.run_task(world.c1.enqueue_action_invoke("disable_user", user_id))
    assert not ok and finish is not None and finish.outcome == "error"
    assert finish.non_retryable and "account owner" in finish.status_message
    assert world.tenant.user(user_id).active  # type: ignore[union-attr]


def test_dry_run_changes_nothing(world: World) -> None:
    user_id = _learner(world)
    ok, finish = world.run_task(world.c1.enqueue_action_invoke("disable_user", user_id),
                                dry_run=True)
    assert finish is not None and finish.outcome == "error"
    assert "dry run" in finish.status_message
    assert world.tenant.user(user_id).active  # type: ignore[union-attr]
    audit = world.query("SELECT outcome, litmos_calls FROM provisioning_audit "
                        "WHERE task_id = ?", [finish.task_id])
    assert audit == [("dry_run", f"PUT /users/{user_id} (whole record, Active=false)")]


@pytest.mark.parametrize(("name", "user", "why"), [
    ("delete_user", "u1", "no action 'delete_user'"),
    ("disable_user", "NoSuchUser", "Litmos has no user NoSuchUser"),
    ("disable_user", "", "user id"),
])
def test_refused_invokes_are_final(world: World, name: str, user: str, why: str) -> None:
    ok, finish = world.run_task(world.c1.enqueue_action_invoke(name, user))
    assert not ok and finish is not None and finish.non_retryable
    assert why in finish.status_message


def test_args_may_name_the_user_as_a_resource_id() -> None:
    args = struct_pb2.Struct()
    args.update({"resource_id": {"resource_type": "user", "resource": "u7"}})
    assert user_id_arg(args) == "u7"
    args.update({"resource_id": {"resource_type": "team", "resource": "t1"}})
    assert user_id_arg(args) == ""


def test_status_of_an_invoked_action_comes_from_its_run(world: World) -> None:
    user_id = _learner(world)
    ok, finish = world.run_task(world.c1.enqueue_action_invoke("disable_user", user_id))
    assert ok and finish is not None
    status = action_status(world.instance, finish.task_id, "")
    assert status.status == v2.BATON_ACTION_STATUS_COMPLETE
    assert status.name == "disable_user" and dict(status.response)["active"] is False
