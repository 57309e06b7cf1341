"""C1's action tasks that need no Litmos call, answered in the sensor tick itself.

Listing and describing the actions is static (catalog/user.py), and an action's status is
what the Dagster runs that served its invoke task say (an action's id is that task's id):
a run for either would cost ~3 s of CPU to say what the tick already knows. Invokes
change Litmos, so they run as provisioning does (requests.PROVISION_KINDS).
"""

from __future__ import annotations

import dagster as dg

from litmos_pipeline.c1 import actions
from litmos_pipeline.c1.client import BatonClient
from litmos_pipeline.c1.proto import baton_v1_pb2 as baton
from litmos_pipeline.c1.proto import connector_v2_pb2 as v2
from litmos_pipeline.taskloop.tags import recorded_work, runs_serving

TICK_KINDS = frozenset({"action_list_schemas", "action_get_schema", "action_status"})


def answer(client: BatonClient, instance: dg.DagsterInstance, task: baton.Task,
           kind: str) -> None:
    """FinishTask for a list/get-schema or status task."""
    if kind == "action_list_schemas":
        listed = actions.list_schemas(task.action_list_schemas.resource_type_id)
        client.finish_task_success(task.id, listed)
    elif kind == "action_get_schema":
        name = task.action_get_schema.name
        schema = actions.get_schema(name)
        if schema is None:
            client.finish_task_error(task.id, f"litmos-pipeline has no action {name!r}",
                                     non_retryable=True)
            return
        client.finish_task_success(task.id, schema)
    else:
        request = task.action_status
        client.finish_task_success(task.id, action_status(instance, request.id, request.name))


def action_status(instance: dg.DagsterInstance, action_id: str,
                  name: str) -> v2.GetActionStatusResponse:
    """The invoke task's state from the runs that served it: none (UNKNOWN), one under way
    (RUNNING), one that recorded its work (COMPLETE, with its answer), else FAILED."""
    runs = runs_serving(instance, action_id) if action_id else []
    if not runs:
        return actions.status_response(action_id, name, v2.BATON_ACTION_STATUS_UNKNOWN)
    if any(not run.is_finished for run in runs):
        return actions.status_response(action_id, name, v2.BATON_ACTION_STATUS_RUNNING)
    for run in runs:
        done, packed = recorded_work(run.tags, action_id)
        if done:
            invoked = v2.InvokeActionResponse()
            if packed is not None and packed.Unpack(invoked):
                return actions.status_response(action_id, invoked.name or name,
                                               v2.BATON_ACTION_STATUS_COMPLETE,
                                               invoked.response)
            return actions.status_response(action_id, name, v2.BATON_ACTION_STATUS_COMPLETE)
    return actions.status_response(action_id, name, v2.BATON_ACTION_STATUS_FAILED)
