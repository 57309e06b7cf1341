"""End to end through a real dagster-daemon: C1 tasks -> sensor -> runs -> C1 and Litmos.

The sandboxes run in this process on loopback; the daemon and the runs it launches are
separate processes, exactly as in production.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from litmos_pipeline.sandbox import processes
from litmos_pipeline.sandbox.c1_server import C1Sandbox
from litmos_pipeline.sandbox.litmos_server import FaultRule, LitmosSandbox
from litmos_pipeline.sandbox.tenant import Tenant, TenantSpec
from litmos_pipeline.settings import PROJECT_ROOT


def wait_for(what: str, check: Callable[[], Any], timeout_s: float = 120.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def daemon_world(tmp_path: Path) -> Iterator[tuple[LitmosSandbox, C1Sandbox, Path]]:
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    tenant = Tenant.generate(TenantSpec.preset("tiny"))
    # 50 ms a request: a tiny sync takes a few seconds, long enough to queue another.
    with LitmosSandbox(tenant, rate_limit_per_minute=None, latency_ms=50) as litmos, \
            C1Sandbox(lease_timeout_s=1.5, next_heartbeat_s=1) as c1:
        client_id, secret = c1.register_client("daemon")
        env = {
            **os.environ, "DAGSTER_HOME": str(home),
            "LITMOS_API_KEY": litmos.api_key, "LITMOS_SOURCE": "pytest",
            "LITMOS_BASE_URL": litmos.base_url, "LITMOS_REQUESTS_PER_MINUTE": "100000",
            "LITMOS_MAX_RETRIES": "1", "LITMOS_DUCKDB_PATH": str(tmp_path / "w.duckdb"),
            "C1Z_OUTPUT_DIR": str(tmp_path / "c1z"), "C1_SENSOR_INTERVAL_S": "1",
            "C1_CLIENT_ID": client_id, "C1_CLIENT_SECRET": secret,
            "C1_API_URL": c1.api_url, "C1_GRPC_TARGET": c1.grpc_target,
        }
        daemon = processes.start(
            "dagster-daemon",
            [str(Path(sys.executable).parent / "dagster-daemon"), "run", "-m",
             "litmos_pipeline.definitions"],
            env=env, ready_json=False, cwd=PROJECT_ROOT, log_path=tmp_path / "daemon.log")
        try:
            yield litmos, c1, home
        finally:
            daemon.stop()


def runs_for(home: Path, task_id: str) -> list[dg.DagsterRun]:
    with dg.DagsterInstance.from_config(str(home)) as instance:
        return list(instance.get_runs(filters=dg.RunsFilter(tags={"c1/task_id": task_id})))


def test_tasks_flow_through_the_daemon(daemon_world: tuple[LitmosSandbox, C1Sandbox, Path],
                                       tmp_path: Path) -> None:
    litmos, c1, home = daemon_world

    # Two full syncs requested at once: one sync runs at a time, so the second run waits
    # in the queue without heartbeats, its lease lapses and C1 offers the task again.
    sync_tasks = [c1.enqueue_sync_full(), c1.enqueue_sync_full()]
    for task_id in sync_tasks:
        finish = wait_for("a sync task to finish", lambda t=task_id: c1.finished(t), 180)
        assert finish.outcome == "success"
        uploads = c1.uploads(task_id)
        assert len(uploads) == 1 and uploads[0].row_counts["v1_grants"] > 0
        assert len(runs_for(home, task_id)) == 1  # exactly one run per task...
    assert c1.task(sync_tasks[1]).offers >= 2  # ...although the second was offered twice
    assert (tmp_path / "c1z" / "latest.c1z").exists()
    assert list((tmp_path / "staging").glob("*.duckdb")) == []  # published: staging cleared

    # An approved access request: provisioned in Litmos, reported to C1.
    tenant = litmos.tenant
    user = next(u for u in tenant.users() if u.active)
    course = next(c for c in tenant.courses() if tenant.enrollment(user.id, c.id) is None)
    grant_task = c1.enqueue_grant(f"course:{course.id}:assigned", f"user:{user.id}")
    finish = wait_for("the grant task to finish", lambda: c1.finished(grant_task), 120)
    assert finish.outcome == "success"
    assert tenant.enrollment(user.id, course.id) is not None
    [run] = runs_for(home, grant_task)
    assert run.tags["c1/entitlement"] == f"course:{course.id}:assigned"

    # A sync whose run fails is finished with an error saying why (retryable).
    litmos.add_fault(FaultRule("503", count=None, path_prefix="/courses"))
    failing = c1.enqueue_sync_full()
    finish = wait_for("the failed sync to be reported", lambda: c1.finished(failing), 180)
    assert finish.outcome == "error" and not finish.non_retryable
    assert "failed" in finish.status_message
    assert c1.uploads(failing) == []
