"""The provision job: C1 tasks (grant, revoke, create_account) -> Litmos -> FinishTask.

A run serves one task, or a batch of them one after another when C1's queue is deep.
"""

import time
from typing import Any

import dagster as dg

from litmos_pipeline import settings as cfg
from litmos_pipeline.c1 import messages
from litmos_pipeline.defs.resources import (
    C1Resource,
    LitmosResource,
    ProvisionResource,
    WarehouseResource,
)
from litmos_pipeline.litmos.client import LitmosClient, LitmosError
from litmos_pipeline.litmos.ids import UnsafeIdError
from litmos_pipeline.provisioning.flow import (
    Action,
    Provisioner,
    Result,
    TaskRefused,
    action_for,
)
from litmos_pipeline.taskloop.finish import Outcome, finish_task, provision_outcome
from litmos_pipeline.taskloop.requests import decode_task
from litmos_pipeline.taskloop.tags import work_done
from litmos_pipeline.warehouse import store


class ServedTask(dg.Config):
    task_b64: str  # the C1 task, protobuf-encoded, as the task sensor received it
    attempt: int = 0  # runs that served this task before (taskloop.tags.served_before)


class ProvisionTaskConfig(dg.Config):
    tasks: list[ServedTask]  # one, or a batch when C1's queue is deep (taskloop.requests)


@dg.op(description="For each task: validate, change Litmos, read back, record, finish in C1.")
def provision_task(context: dg.OpExecutionContext, config: ProvisionTaskConfig,
                   litmos: LitmosResource, warehouse: WarehouseResource, c1: C1Resource,
                   provision: ProvisionResource) -> dg.Output[dict[str, Any]]:
    # One client for the batch: its requests are drawn from the key's shared budget.
    settings, dry_run = litmos.settings(), provision.settings().dry_run
    with litmos.client(context.log, provisioning=True,
                       budget_path=warehouse.key_budget_path()) as client:
        outcomes = [_serve(context, served, client, settings, warehouse, c1, dry_run)
                    for served in config.tasks]
    failed = [o for o in outcomes if o["outcome"] == "failed"]
    if failed:
        # Every task was finished in C1 with its own outcome; the run still shows failed.
        described = "; ".join(f"task {o['task_id']} ({o['kind']}): {o['message']}"
                              for o in failed)
        raise dg.Failure(description=f"{len(failed)} of {len(outcomes)} tasks failed: "
                                     f"{described}"[:4000],
                         metadata={"retryable": any(o["retryable"] for o in failed)},
                         allow_retries=False)
    if len(outcomes) == 1:
        outcome = outcomes[0]
        return dg.Output(outcome, metadata={k: v for k, v in outcome.items() if v is not None})
    return dg.Output({"tasks": outcomes}, metadata={
        "tasks": len(outcomes), "succeeded": sum(o["outcome"] == "succeeded" for o in outcomes),
        "litmos_requests": client.stats.requests})


def _serve(context: dg.OpExecutionContext, served: ServedTask, client: LitmosClient,
           settings: cfg.LitmosSettings, warehouse: WarehouseResource, c1: C1Resource,
           dry_run: bool) -> dict[str, Any]:
    """One task, start to FinishTask; its failure is reported, not raised."""
    started = time.monotonic()
    requested_at = store.now_utc()
    task = decode_task(served.task_b64)
    outcome: dict[str, Any] = {"task_id": task.id, "dry_run": dry_run}
    action: Action | None = None
    result: Result | None = None
    error: Exception | None = None
    replayed = False
    requests_before = client.stats.requests
    try:
        action = action_for(task)
        if served.attempt and action.grant_id and _succeeded_before(warehouse, task.id):
            # An earlier run changed Litmos and recorded it, then died or lost FinishTask:
            # report the same outcome again without a second Litmos write.
            context.log.info(f"task {task.id} succeeded in an earlier run; reporting it again")
            result, replayed = Result(action, calls=[]), True
        else:
            provisioner = Provisioner(client, course_filter=settings.course_ids,
                                      send_messages=settings.send_messages, dry_run=dry_run,
                                      verify_first=served.attempt > 0, log=context.log.info)
            result = provisioner.apply(action)
    except (TaskRefused, LitmosError, UnsafeIdError) as exc:
        error = exc  # UnsafeIdError: an id no Litmos id looks like, refused for good
    outcome["litmos_requests"] = client.stats.requests - requests_before
    kind = task.WhichOneof("task_type") or "unknown"
    retryable = isinstance(error, LitmosError) and error.retryable
    status = "failed" if error else ("dry_run" if dry_run else "succeeded")
    message = str(error) if error else _describe(kind, result)
    _record(warehouse, context, task.id, kind, action, result, status, retryable, message,
            requested_at, record_grants=not (error or dry_run or replayed))
    reported = provision_outcome(kind, result, error, dry_run, retryable)
    if status == "succeeded" and result is not None:
        work_done(context.instance, context.run_id, task.id, reported.response)
    _finish(context, c1, task.id, reported)
    outcome.update(kind=kind, outcome=status, retryable=retryable, message=message,
                   seconds=round(time.monotonic() - started, 2))
    if action is not None and action.grant_id and status == "succeeded":
        # An observation, not a materialization: the sync's figures and check results stay
        # what c1_grants shows; the change is in its event history and in access_changes.
        context.log_event(dg.AssetObservation(
            asset_key="c1_grants", description=f"{kind} of {action.grant_id} (task {task.id})",
            metadata={"task_id": task.id, "change": kind, "grant_id": action.grant_id}))
        context.log_event(dg.AssetObservation(
            asset_key="access_changes", description=f"provisioning: {kind} (task {task.id})",
            metadata=_access_changes_now(warehouse)))
    if error is not None:
        context.log.error(f"task {task.id} ({kind}) failed: {message}")
    return outcome


def _succeeded_before(warehouse: WarehouseResource, task_id: str) -> bool:
    with warehouse.main() as main:
        return bool(store.run_sql(main, "provision.sql", "prior_success",
                                  {"task_id": task_id})[0][0])


def _describe(kind: str, result: Result | None) -> str:
    if result is None:
        return ""
    target = result.action.grant_id or result.action.account.get("UserName", "")
    calls = "; ".join(result.calls)
    return f"{kind} {target}: {calls}" + ("" if result.changed else " (already so)")


def _record(warehouse: WarehouseResource, context: dg.OpExecutionContext, task_id: str,
            kind: str, action: Action | None, result: Result | None, status: str,
            retryable: bool, message: str, requested_at: Any, *, record_grants: bool) -> None:
    a = action or Action(kind=kind)
    params: dict[str, Any] = {
        "task_id": task_id, "task_kind": kind, "run_id": context.run_id,
        "requested_at": requested_at, "now": store.now_utc(),
        "entitlement_id": a.entitlement_id, "principal_id": a.user_id,
        "grant_id": a.grant_id, "resource_type_id": a.resource_type,
        "resource_id": a.resource_id, "outcome": status, "retryable": retryable,
        "litmos_calls": "; ".join(result.calls) if result else "", "message": message,
    }
    with warehouse.main() as main:
        main.execute("BEGIN")
        if record_grants and a.kind in ("grant", "revoke"):
            store.run_sql(main, "provision.sql", a.kind, params)
            store.run_sql(main, "provision.sql", "record_change",
                          {**params, "change": "added" if a.kind == "grant" else "removed"})
        if record_grants and a.kind == "create_account" and result and result.user:
            store.run_sql(main, "provision.sql", "create_user", _user_params(result.user))
        store.run_sql(main, "provision.sql", "audit", params)
        if record_grants and a.kind in ("grant", "revoke"):
            # access_changes promises the provisioning since the newest sync: rebuilt here,
            # not only when the next sync materializes it.
            store.run_sql(main, "main.sql", "access_changes")
        main.execute("COMMIT")


def _access_changes_now(warehouse: WarehouseResource) -> dict[str, Any]:
    """access_changes' counts and its newest provisioning changes, named, for the UI."""
    with warehouse.main() as main:
        added, removed = main.execute(
            "SELECT count(*) FILTER (change = 'added'), count(*) FILTER (change = 'removed') "
            "FROM access_changes").fetchone() or (0, 0)
        preview = store.preview_markdown(
            main, "SELECT change, entitlement_name, user_name, user_login, changed_at "
                  "FROM access_changes WHERE source = 'provisioning' ORDER BY changed_at DESC",
            limit=5)
    return {"added": added, "removed": removed, "provisioning": dg.MetadataValue.md(preview)}


def _user_params(user: dict[str, Any]) -> dict[str, Any]:
    name = messages.user_display_name(user.get("FirstName"), user.get("LastName"),
                                      user.get("UserName"), user["Id"])
    return {"user_id": user["Id"], "display_name": name,
            "login": user.get("UserName"), "email": user.get("Email"),
            "given_name": user.get("FirstName"), "family_name": user.get("LastName")}


def _finish(context: dg.OpExecutionContext, c1: C1Resource, task_id: str,
            outcome: Outcome) -> None:
    if not c1.configured:
        context.log.warning("C1 is not configured: the outcome is recorded but not reported")
        return
    finish_task(c1.run_client(), context.instance, context.run_id, task_id, outcome,
                c1.heartbeat)
    context.log.info(f"finished C1 task {task_id}")


@dg.job(name="litmos_provision", tags={"litmos/provision": "task"},
        description="Carries out C1 access requests in Litmos (launched by c1_task_sensor).")
def provision_job() -> None:
    provision_task()


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(jobs=[provision_job])
