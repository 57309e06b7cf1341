"""Dagster's default run launcher, plus the health check that run monitoring needs.

A run killed with SIGKILL (OOM killer, a reboot, `kill -9`) reports nothing: without a
health check Dagster keeps it STARTED for ever, with its concurrency pool slot and its
`litmos/sync` run slot, so every later sync waits behind a dead one. The default launcher
cannot check its workers; this one can, because every run worker here lives on this
machine (one machine, SQLite storage): the pid that reported the run's start must still
be alive, and be the same process. Run monitoring (`run_monitoring:` in dagster.yaml)
then marks a dead run failed, `free_slots_after_run_end_seconds` frees its slots, and the
failure sensor finishes its C1 task and removes its staging file.

Runs executed outside the launcher (`dagster job execute`) are checked the same way: their
start event carries the CLI process's pid.
"""

from __future__ import annotations

import psutil
from dagster import DagsterEventType, DagsterRun, DefaultRunLauncher
from dagster._core.launcher.base import CheckRunHealthResult, WorkerStatus

# A process whose start is later than the run's start event is another process that got
# the dead worker's pid; the slack covers clock rounding between the two readings.
PID_REUSE_SLACK_S = 1.0


class WatchedRunLauncher(DefaultRunLauncher):
    """DefaultRunLauncher whose run workers' health run monitoring can check."""

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        start = _run_start(self._instance, run.run_id)
        if start is None:
            # Not started yet, as far as the event log says: STARTING runs are covered by
            # run monitoring's start timeout, so never fail a run on missing evidence.
            return CheckRunHealthResult(WorkerStatus.RUNNING, "no start event yet")
        pid, started_at = start
        return worker_status(pid, started_at)


def _run_start(instance: object, run_id: str) -> tuple[int, float] | None:
    records = instance.get_records_for_run(  # type: ignore[attr-defined]
        run_id, of_type=DagsterEventType.RUN_START, limit=1).records
    if not records:
        return None
    entry = records[0].event_log_entry
    pid = entry.dagster_event.pid if entry.dagster_event else None
    return (pid, entry.timestamp) if pid else None


def worker_status(pid: int, started_at: float) -> CheckRunHealthResult:
    """RUNNING while `pid` is alive and began before `started_at`; FAILED otherwise."""
    try:
        process = psutil.Process(pid)
        alive = process.status() != psutil.STATUS_ZOMBIE
        created = process.create_time()
    except psutil.NoSuchProcess:
        return CheckRunHealthResult(WorkerStatus.FAILED, f"run worker (pid {pid}) is gone")
    except psutil.AccessDenied:
        return CheckRunHealthResult(WorkerStatus.RUNNING, f"pid {pid} exists (not ours to read)")
    if not alive:
        return CheckRunHealthResult(WorkerStatus.FAILED, f"run worker (pid {pid}) has exited")
    if created > started_at + PID_REUSE_SLACK_S:
        return CheckRunHealthResult(
            WorkerStatus.FAILED, f"run worker (pid {pid}) is gone; the pid is another process's")
    return CheckRunHealthResult(WorkerStatus.RUNNING, f"pid {pid} alive")
