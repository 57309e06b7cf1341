"""Finishing C1 tasks: what FinishTask says, and the run tags that make it happen once.

A run records a task's work as done (with FinishTask's response) before it calls
FinishTask, and records FinishTask once C1 has it. A run that dies between the two leaves
the task to the failure sensor, which reports the success the run could not; one that
dies before leaves a retryable error saying why.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import dagster as dg
from google.protobuf import struct_pb2
from google.protobuf.message import Message

from litmos_pipeline.c1 import actions, messages
from litmos_pipeline.c1.client import BatonClient, C1Error
from litmos_pipeline.c1.heartbeat import TaskHeartbeat
from litmos_pipeline.c1.proto import connector_v2_pb2 as v2
from litmos_pipeline.litmos.client import KEY_REQUESTS_PER_MINUTE, LitmosError
from litmos_pipeline.provisioning.flow import Result, grant_message, user_resource
from litmos_pipeline.taskloop.tags import (
    mark_task_finished,
    recorded_work,
    reoffered,
    served_by_another_run,
    work_done,
)

DRY_RUN_REASON = "dry run (LITMOS_PROVISION_DRY_RUN): nothing changed"


class Log(Protocol):
    """A logger: Dagster's context.log or a logging.Logger."""

    def info(self, msg: str) -> Any: ...

    def warning(self, msg: str) -> Any: ...


@dataclass(frozen=True)
class Outcome:
    """What FinishTask tells C1: a success with its response, or an error."""

    response: Message | None = None
    error: str | None = None  # set: the task failed, saying this
    retryable: bool = False  # an error C1 may offer again (else: final)
    annotations: tuple[Message, ...] = ()  # Success.annotations, or Error.annotations

    @classmethod
    def success(cls, response: Message | None,
                annotations: Sequence[Message] = ()) -> Outcome:
        return cls(response=response, annotations=tuple(annotations))

    @classmethod
    def failure(cls, reason: str, *, retryable: bool,
                annotations: Sequence[Message] = ()) -> Outcome:
        return cls(error=reason, retryable=retryable, annotations=tuple(annotations))

    @property
    def succeeded(self) -> bool:
        return self.error is None


def finish_task(client: BatonClient, instance: dg.DagsterInstance, run_id: str,
                task_id: str, outcome: Outcome, heartbeat: TaskHeartbeat | None = None) -> None:
    """FinishTask, then record on the run that C1 has it, so it is never sent twice."""
    if outcome.error is None:
        client.finish_task_success(task_id, outcome.response, outcome.annotations)
    else:
        client.finish_task_error(task_id, outcome.error, non_retryable=not outcome.retryable,
                                 annotations=outcome.annotations)
    mark_task_finished(instance, run_id, task_id)
    if heartbeat is not None:
        heartbeat.finished(task_id)  # no more beats for a task C1 has closed


def provision_outcome(kind: str, result: Result | None, error: Exception | None,
                      dry_run: bool, retryable: bool) -> Outcome:
    """A grant, revoke or create_account task's outcome, as C1 is told it."""
    if error is not None or dry_run or result is None:
        reason = str(error) if error else DRY_RUN_REASON
        return Outcome.failure(reason, retryable=retryable, annotations=rate_limited(error))
    return Outcome.success(provision_response(kind, result))


def rate_limited(error: Exception | None) -> tuple[Message, ...]:
    """A RateLimitDescription when Litmos' limit stopped the task (its 503s outlasted the
    retries), so C1 knows to wait; nothing otherwise. Litmos sends no rate-limit headers:
    the limit is the key's documented one, free again within a minute."""
    if isinstance(error, LitmosError) and error.rate_limited:
        return (messages.rate_limit_exceeded(KEY_REQUESTS_PER_MINUTE, 60.0, time.time()),)
    return ()


def provision_response(kind: str, result: Result) -> Message:
    """FinishTask's success response for a provisioning task C1 reads the outcome from."""
    if kind == "grant":
        return v2.GrantManagerServiceGrantResponse(grants=[grant_message(result.action)])
    if kind == "revoke":
        return v2.GrantManagerServiceRevokeResponse()
    if kind == "action_invoke":
        return action_response(result)
    resource = user_resource(result.user or {})
    if result.changed:
        return v2.CreateAccountResponse(success=v2.CreateAccountResponse.SuccessResult(
            resource=resource, is_create_account_result=True))
    return v2.CreateAccountResponse(already_exists=v2.CreateAccountResponse.AlreadyExistsResult(
        resource=resource, is_create_account_result=True))


def action_response(result: Result) -> v2.InvokeActionResponse:
    """An invoke's answer: COMPLETE, with the user's Active as Litmos reads it now."""
    a, user = result.action, result.user or {}
    return actions.invoke_response(a.action_id, a.action_name, {
        "user_id": a.user_id, "changed": result.changed,
        "active": (user.get("Active") or "").lower() == "true"})


def upload_and_finish(client: BatonClient, instance: dg.DagsterInstance, run_id: str,
                      task_id: str, path: Path, heartbeat: TaskHeartbeat | None,
                      log: Log, served_by: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A sync task's c1z to C1 (UploadAsset), then FinishTask; metadata of the upload.

    `served_by` says in FinishTask (a Struct among Success.annotations) whether the file
    is a full sync's or an earlier snapshot's, and how old.
    """
    if heartbeat and heartbeat.cancelled.is_set():
        raise RuntimeError(f"C1 cancelled task {task_id}; the c1z was not uploaded")
    started = time.monotonic()
    digest = client.upload_asset(task_id, path)
    work_done(instance, run_id, task_id, None)
    annotations = (served_by_struct(served_by),) if served_by else ()
    finish_task(client, instance, run_id, task_id, Outcome.success(None, annotations))
    log.info(f"uploaded {path.name} to C1 for task {task_id} and finished it")
    return {"c1_task_id": task_id, "upload_s": round(time.monotonic() - started, 2),
            "uploaded_sha256": digest}


def served_by_struct(served_by: Mapping[str, Any]) -> struct_pb2.Struct:
    """What a sync task's answer was, as C1 sees it among FinishTask's annotations."""
    struct = struct_pb2.Struct()
    struct.update({"litmos_pipeline": dict(served_by)})
    return struct


def finish_for_failed_run(client: BatonClient, instance: dg.DagsterInstance,
                          run: dg.DagsterRun, task_ids: Sequence[str], reason: str,
                          log: Log) -> None:
    """Finish the tasks a failed run left: its recorded success, else a retryable error."""
    for task_id in task_ids:
        _finish_one_for_failed_run(client, instance, run, task_id, reason, log)


def _finish_one_for_failed_run(client: BatonClient, instance: dg.DagsterInstance,
                               run: dg.DagsterRun, task_id: str, reason: str,
                               log: Log) -> None:
    run_id = run.run_id
    if served_by_another_run(instance, task_id, run_id):
        # C1 offered the task again (its lease lapsed) and a newer run has it now.
        log.info(f"task {task_id} is served by a newer run than {run_id}")
        return
    done, response = recorded_work(run.tags, task_id)
    if not done and reoffered(run.tags, task_id):
        # C1 already took the task for lost (the run's heartbeats stopped) and offers it
        # again: the task sensor serves it with a new run once this one is over. An error
        # now would end a task that a retry can still do.
        log.info(f"C1 offers task {task_id} again since run {run_id} stopped; "
                 "a new run serves it")
        return
    try:
        if done:
            # The work is done; only C1 has not heard: report the success the run could
            # not (its FinishTask failed, or it died right before it).
            outcome = Outcome.success(response)
        else:
            outcome = Outcome.failure(f"Dagster run {run_id} failed: {reason}"[:2000],
                                      retryable=True)
        finish_task(client, instance, run_id, task_id, outcome)
    except C1Error as exc:
        log.warning(f"could not finish C1 task {task_id}: {exc}; C1 offers it "
                    "again when its lease lapses, and a new run serves it")
