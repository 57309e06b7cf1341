"""A run killed with SIGKILL is found dead, marked failed and cleaned up, without a person.

Through a real dagster-daemon: run monitoring (with the project's run launcher) sees the
dead worker, the pool and run slots are freed, the failure sensor finishes the C1 task
and removes the staging file, and the next sync, or C1's next offer of the same task,
succeeds. On the code before this, the next sync waited for ever behind the dead run's
pool slot ("Step blocked by limit for pool litmos_sync").
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import dagster as dg

from litmos_pipeline.taskloop.tags import reoffered
from litmos_sandbox.litmos import FaultRule
from tests.defs.daemon import World, daemon_world, wait_for

# Long enough to be killed in, short enough that the sandbox's thread ends soon after.
HOLD_MS = 20_000


def _worker_pid(home: Path, run_id: str, step: str) -> int | None:
    """The run worker's pid, once `step` has started in it."""
    with dg.DagsterInstance.from_config(str(home)) as instance:
        started = instance.get_records_for_run(
            run_id, of_type=dg.DagsterEventType.STEP_START).records
        if not any(r.event_log_entry.step_key == step for r in started):
            return None
        [start] = instance.get_records_for_run(
            run_id, of_type=dg.DagsterEventType.RUN_START, limit=1).records
        return start.event_log_entry.dagster_event.pid


def _status(home: Path, run_id: str) -> dg.DagsterRunStatus:
    with dg.DagsterInstance.from_config(str(home)) as instance:
        run = instance.get_run_by_id(run_id)
        assert run is not None
        return run.status


def _claimed_slots(home: Path) -> int:
    with dg.DagsterInstance.from_config(str(home)) as instance:
        info = instance.event_log_storage.get_concurrency_info("litmos_sync")
        return len(info.claimed_slots) + len(info.pending_steps)


def _kill_during_extract(world: World, task_id: str) -> str:
    """Hold the user list, wait for the extract to start, SIGKILL the run worker."""
    run = wait_for("the sync run", lambda: next(iter(world.runs_for(task_id)), None), 120)
    pid = wait_for("the extract to start",
                   lambda: _worker_pid(world.home, run.run_id, "litmos_extract"), 120)
    wait_for("a staging file", lambda: world.staging_files, 60)
    os.kill(pid, signal.SIGKILL)
    return run.run_id


def test_killed_sync_is_failed_cleaned_and_the_next_sync_runs(tmp_path: Path) -> None:
    # A lease longer than the test: C1 does not offer the task again, so the failure
    # sensor must finish it.
    with daemon_world(tmp_path, lease_timeout_s=600) as world:
        world.litmos.add_fault(FaultRule("slow", count=1, path_prefix="/users",
                                         slow_ms=HOLD_MS))
        task = world.c1.enqueue_sync_full()
        run_id = _kill_during_extract(world, task)

        wait_for("the dead run to be marked failed",
                 lambda: _status(world.home, run_id) == dg.DagsterRunStatus.FAILURE, 90)
        finish = wait_for("its C1 task to be finished", lambda: world.c1.finished(task), 60)
        assert finish.outcome == "error" and not finish.non_retryable
        assert run_id in finish.status_message
        wait_for("its staging file to be removed", lambda: not world.staging_files, 60)
        wait_for("its pool slot to be freed", lambda: _claimed_slots(world.home) == 0, 60)

        # The next requested sync is not blocked by the dead one.
        again = world.c1.enqueue_sync_full()
        finish = wait_for("the next sync", lambda: world.c1.finished(again), 180)
        assert finish.outcome == "success"
        assert len(world.c1.uploads(again)) == 1
        assert (tmp_path / "c1z" / "latest.c1z").exists()


def _reoffered(home: Path, run_id: str, task_id: str) -> bool:
    with dg.DagsterInstance.from_config(str(home)) as instance:
        run = instance.get_run_by_id(run_id)
        return run is not None and reoffered(run.tags, task_id)


def test_task_offered_again_after_its_run_was_killed_gets_a_new_run(tmp_path: Path) -> None:
    # The worker hangs (SIGSTOP), its heartbeats stop, the lease lapses (1.5 s) and C1
    # offers the task again while the run is still "started"; then the worker dies. The
    # failure sensor must leave the task to the task sensor (no error in C1), and the task
    # sensor must serve it with a new run (the first run key, the task id, is taken).
    # Hanging first orders the two: a worker killed outright may be found dead before C1
    # offers its task again, and then a retryable error is the right answer (test above).
    with daemon_world(tmp_path) as world:
        world.litmos.add_fault(FaultRule("slow", count=1, path_prefix="/users",
                                         slow_ms=HOLD_MS))
        task = world.c1.enqueue_sync_full()
        run = wait_for("the sync run", lambda: next(iter(world.runs_for(task)), None), 120)
        pid = wait_for("the extract to start",
                       lambda: _worker_pid(world.home, run.run_id, "litmos_extract"), 120)
        wait_for("a staging file", lambda: world.staging_files, 60)
        os.kill(pid, signal.SIGSTOP)
        try:
            wait_for("C1 to offer the hung run's task again",
                     lambda: _reoffered(world.home, run.run_id, task), 60)
        finally:
            os.kill(pid, signal.SIGKILL)
        dead = run.run_id

        finish = wait_for("the task to be finished", lambda: world.c1.finished(task), 240)
        assert finish.outcome == "success"
        assert [f.outcome for f in world.c1.finishes if f.task_id == task] == ["success"]
        runs = wait_for("both runs to end",
                        lambda: (rs := world.runs_for(task)) and all(r.is_finished for r in rs)
                        and rs, 60)
        assert len(runs) == 2
        assert {r.run_id: r.status for r in runs}[dead] == dg.DagsterRunStatus.FAILURE
        [new] = [r for r in runs if r.run_id != dead]
        assert new.status == dg.DagsterRunStatus.SUCCESS and new.tags["c1/attempt"] == "1"
        assert len(world.c1.uploads(task)) == 1
        assert not world.staging_files
