"""Which C1 tasks a Dagster run serves, and what it has done with each: kept in run tags.

A sync run serves one task; a provisioning run serves one or, when C1's queue is deep, a
batch (one run per task cost the daemon ~0.4-1.2 s of launch and each run ~3 s of CPU:
950 queued grants finished 88 in 370 s on 2 cores, RELIABILITY.md). Each served task has
a membership tag, so "which runs served task X" is one query whatever the batch, and the
progress of each (work done, FinishTask sent) is a tag of its own, so that whoever
finishes the run's tasks after it died (the failure sensor) knows which are left.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping

import dagster as dg
from google.protobuf import any_pb2
from google.protobuf.message import Message

from litmos_pipeline.c1.client import task_kind
from litmos_pipeline.c1.proto import baton_v1_pb2 as baton

TASK_ID_TAG = "c1/task_id"  # a run serving one task: the UI filters runs by it
TASK_KIND_TAG = "c1/task_kind"
HEARTBEAT_TAG = "c1/heartbeat_s"
ATTEMPT_TAG = "c1/attempt"
TASK_COUNT_TAG = "c1/tasks"
NO_RESPONSE = "-"
# Per task: "c1/task.<id>" = served by this run; "c1/work_done.<id>" = its work is done
# (Litmos holds the change and the audit records it, or the c1z is uploaded; the value is
# FinishTask's success response), "c1/finished.<id>" = C1 has its FinishTask,
# "c1/reoffered.<id>" = C1 offered the task again while this run had started (its
# heartbeats had stopped: the worker is dead or hung).
_MEMBER = "c1/task."
_WORK_DONE = "c1/work_done."
_FINISHED = "c1/finished."
_REOFFERED = "c1/reoffered."


def member_tag(task_id: str) -> str:
    return _MEMBER + task_id


def run_task_ids(tags: Mapping[str, str]) -> list[str]:
    """The C1 tasks a run serves (none for a run nobody asked for through C1)."""
    return sorted(key.removeprefix(_MEMBER) for key in tags if key.startswith(_MEMBER))


def task_tags(task: baton.Task) -> dict[str, str]:
    """Tags a run serving just this task gets, so the UI can filter by task, kind, target."""
    kind = task_kind(task)
    tags = {TASK_ID_TAG: task.id, TASK_KIND_TAG: kind, member_tag(task.id): "1"}
    if kind == "grant":
        tags["c1/entitlement"] = task.grant.entitlement.id
        tags["c1/principal"] = task.grant.principal.id.resource
    elif kind == "revoke":
        tags["c1/entitlement"] = task.revoke.grant.entitlement.id
        tags["c1/principal"] = task.revoke.grant.principal.id.resource
    elif kind == "create_account":
        tags["c1/principal"] = task.create_account.account_info.login
    elif kind == "action_invoke":
        tags["c1/action"] = task.action_invoke.name
    return tags


def batch_tags(tasks: list[baton.Task]) -> dict[str, str]:
    """Tags of a run serving several tasks: each one's membership, their kinds, the count."""
    kinds = sorted({task_kind(t) for t in tasks})
    return {TASK_KIND_TAG: ",".join(kinds), TASK_COUNT_TAG: str(len(tasks)),
            **{member_tag(t.id): "1" for t in tasks}}


def runs_serving(instance: dg.DagsterInstance, task_id: str) -> list[dg.DagsterRun]:
    return list(instance.get_runs(filters=dg.RunsFilter(tags={member_tag(task_id): "1"})))


def served_before(instance: dg.DagsterInstance, task_id: str) -> int | None:
    """How many runs served this task already; None while one of them has not ended.

    C1 offering a task again whose run has started means that run's heartbeats stopped
    (its worker is dead or hung) and C1 takes the task for lost, to be offered until it is
    finished: that is noted on the run, so the failure sensor leaves the task to a new run
    should this one be found dead, rather than fail it in C1.
    """
    runs = runs_serving(instance, task_id)
    if any(not run.is_finished for run in runs):
        for run in runs:
            if run.status == dg.DagsterRunStatus.STARTED and not reoffered(run.tags, task_id):
                instance.add_run_tags(run.run_id, {_REOFFERED + task_id: "true"})
        return None
    return len(runs)


def reoffered(tags: Mapping[str, str], task_id: str) -> bool:
    return tags.get(_REOFFERED + task_id) == "true"


def served_by_another_run(instance: dg.DagsterInstance, task_id: str, run_id: str) -> bool:
    """A run other than `run_id` serves the task, or served it without failing."""
    return any(r.run_id != run_id and r.status != dg.DagsterRunStatus.FAILURE
               for r in runs_serving(instance, task_id))


def work_done(instance: dg.DagsterInstance, run_id: str, task_id: str,
              response: Message | None) -> None:
    """Record on the run that a task's work is done, with FinishTask's success response."""
    value = NO_RESPONSE
    if response is not None:
        packed = any_pb2.Any()
        packed.Pack(response)
        value = base64.b64encode(packed.SerializeToString()).decode()
    instance.add_run_tags(run_id, {_WORK_DONE + task_id: value})


def recorded_work(tags: Mapping[str, str], task_id: str) -> tuple[bool, any_pb2.Any | None]:
    """(done, FinishTask's response) as `work_done` recorded them."""
    value = tags.get(_WORK_DONE + task_id)
    if value is None:
        return False, None
    if value == NO_RESPONSE:
        return True, None
    return True, any_pb2.Any.FromString(base64.b64decode(value))


def mark_task_finished(instance: dg.DagsterInstance, run_id: str, task_id: str) -> None:
    """Record on the run that C1 has the task's FinishTask, so it is never sent twice."""
    instance.add_run_tags(run_id, {_FINISHED + task_id: "true"})


def is_finished(tags: Mapping[str, str], task_id: str) -> bool:
    return tags.get(_FINISHED + task_id) == "true"


def unfinished_tasks(tags: Mapping[str, str]) -> list[str]:
    """The tasks a run serves whose FinishTask C1 does not have yet."""
    return [t for t in run_task_ids(tags) if not is_finished(tags, t)]
