"""What the Dagster instance knows that `status` shows: the jobs' last runs, the C1 tasks
its runs serve, and the syncs the mass-revocation guard holds."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg

from litmos_pipeline.taskloop.tags import run_task_ids

SYNC_JOB, REFRESH_JOB, PROVISION_JOB = "litmos_sync", "litmos_refresh", "litmos_provision"
TASK_WINDOW = timedelta(days=1)  # failed tasks: those whose last run ended this recently
MAX_HELD = 20  # failed syncs looked at for a guard hold


@dataclass(frozen=True)
class LastRun:
    job: str
    run_id: str
    status: str
    at: float  # the run's last update (epoch seconds)


@dataclass
class Tasks:
    queued: list[str] = field(default_factory=list)  # served by a run not ended yet
    failed: list[str] = field(default_factory=list)  # their last run failed (recently)


@dataclass(frozen=True)
class Hold:
    run_id: str
    at: float
    figures: dict[str, Any]  # the guard's metadata (guard_removed_grants, ...)
    message: str


def last_runs(instance: dg.DagsterInstance, job: str) -> tuple[LastRun | None, LastRun | None]:
    """The job's newest run and its newest successful one."""
    newest = _last(instance, dg.RunsFilter(job_name=job))
    success = _last(instance, dg.RunsFilter(job_name=job,
                                            statuses=[dg.DagsterRunStatus.SUCCESS]))
    return newest, success


def _last(instance: dg.DagsterInstance, filters: dg.RunsFilter) -> LastRun | None:
    records = instance.get_run_records(filters=filters, limit=1)
    if not records:
        return None
    record = records[0]
    return LastRun(record.dagster_run.job_name, record.dagster_run.run_id,
                   record.dagster_run.status.value, record.update_timestamp.timestamp())


def c1_tasks(instance: dg.DagsterInstance) -> Tasks:
    """C1 tasks by the state of the newest run serving each: queued or running, or failed.

    A task whose last run failed is offered again by C1 (and re-served by the sensor),
    so a failed task here is one C1 may still be waiting on.
    """
    since = datetime.now(UTC) - TASK_WINDOW
    newest: dict[str, dg.DagsterRun] = {}
    unfinished = instance.get_runs(filters=dg.RunsFilter(statuses=[
        dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED,
        dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]))
    recent = instance.get_runs(filters=dg.RunsFilter(updated_after=since))
    # get_runs answers newest first: the first run seen for a task is its newest.
    for run in [*unfinished, *recent]:
        for task_id in run_task_ids(run.tags):
            newest.setdefault(task_id, run)
    tasks = Tasks()
    for task_id, run in sorted(newest.items()):
        if not run.is_finished:
            tasks.queued.append(task_id)
        elif run.status == dg.DagsterRunStatus.FAILURE:
            tasks.failed.append(task_id)
    return tasks


def held_syncs(instance: dg.DagsterInstance, after: float | None) -> list[Hold]:
    """Failed syncs since the last published one that the guard held, newest first."""
    filters = dg.RunsFilter(job_name=SYNC_JOB, statuses=[dg.DagsterRunStatus.FAILURE],
                            updated_after=datetime.fromtimestamp(after, UTC) if after else None)
    holds = []
    for record in instance.get_run_records(filters=filters, limit=MAX_HELD):
        run_id = record.dagster_run.run_id
        failures = instance.get_records_for_run(
            run_id, of_type=dg.DagsterEventType.STEP_FAILURE).records
        for failure in failures:
            event = failure.event_log_entry.dagster_event
            data = event.step_failure_data if event is not None else None
            user = getattr(data, "user_failure_data", None)
            metadata = {k: getattr(v, "value", v) for k, v in (user.metadata or {}).items()
                        } if user is not None else {}
            if metadata.get("guard_held"):
                holds.append(Hold(run_id, record.update_timestamp.timestamp(), metadata,
                                  user.description or ""))
    return holds


def requests_of(instance: dg.DagsterInstance, run_id: str) -> int | None:
    """The Litmos requests a sync made (its extract's figures), if its run is known."""
    if instance.get_run_by_id(run_id) is None:
        return None
    records = instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION).records
    for record in records:
        materialization = record.event_log_entry.asset_materialization
        if materialization is not None and "extract_api_requests" in materialization.metadata:
            value = materialization.metadata["extract_api_requests"]
            return int(getattr(value, "value", value))
    return None
