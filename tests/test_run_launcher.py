"""The run launcher's health check: a run whose worker process is gone is FAILED."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import dagster as dg
import psutil
from dagster._core.launcher.base import WorkerStatus

from litmos_pipeline.run_launcher import WatchedRunLauncher, worker_status


def test_a_live_worker_is_running() -> None:
    assert worker_status(os.getpid(), time.time()).status == WorkerStatus.RUNNING


def test_a_worker_that_exited_is_failed() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    result = worker_status(child.pid, time.time())
    assert result.status == WorkerStatus.FAILED and str(child.pid) in (result.msg or "")


def test_a_pid_taken_by_a_younger_process_is_failed() -> None:
    # The run started (an hour ago, say) before this process existed: the pid is not its.
    started = psutil.Process().create_time() - 3600
    assert worker_status(os.getpid(), started).status == WorkerStatus.FAILED


def test_the_launcher_reads_the_pid_of_the_run_start_event() -> None:
    @dg.op
    def noop() -> None: ...

    @dg.job
    def one() -> None:
        noop()

    with dg.instance_for_test() as instance:
        run_id = one.execute_in_process(instance=instance).run_id
        launcher = WatchedRunLauncher()
        launcher.register_instance(instance)
        run = instance.get_run_by_id(run_id)
        assert run is not None
        assert launcher.supports_check_run_worker_health
        # This process ran it and is alive.
        assert launcher.check_run_worker_health(run).status == WorkerStatus.RUNNING
