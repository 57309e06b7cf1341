"""A real dagster-daemon against the Litmos and C1 sandboxes, for end-to-end tests.

The sandboxes run in the test's process on loopback; the daemon and the runs it launches
are separate processes, exactly as in production.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg

from litmos_pipeline.settings import PROJECT_ROOT
from litmos_sandbox import processes
from litmos_sandbox.c1 import C1Sandbox
from litmos_sandbox.litmos import LitmosSandbox
from litmos_sandbox.litmos.tenant import Tenant, TenantSpec


def wait_for(what: str, check: Callable[[], Any], timeout_s: float = 120.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


@dataclass
class World:
    litmos: LitmosSandbox
    c1: C1Sandbox
    home: Path
    data: Path  # the DuckDB file's folder (staging/ beside it) and c1z/
    client_secret: str
    env: dict[str, str] = field(default_factory=dict)  # the daemon's (and its runs') settings

    def runs_for(self, task_id: str) -> list[dg.DagsterRun]:
        return runs_for(self.home, task_id)

    @property
    def staging_files(self) -> list[Path]:
        return sorted((self.data / "staging").glob("*.duckdb*"))


def runs_for(home: Path, task_id: str) -> list[dg.DagsterRun]:
    with dg.DagsterInstance.from_config(str(home)) as instance:
        return list(instance.get_runs(filters=dg.RunsFilter(tags={f"c1/task.{task_id}": "1"})))


@contextmanager
def daemon_world(tmp_path: Path, *, latency_ms: float = 50, api_key: str | None = None,
                 before_daemon: Callable[[LitmosSandbox, C1Sandbox], None] | None = None,
                 env_extra: dict[str, str] | None = None,
                 **c1_options: Any) -> Iterator[World]:
    """Both sandboxes (a tiny tenant) and a dagster-daemon using the project's dagster.yaml.

    `before_daemon` sees the sandboxes before any client talks to them; `env_extra`
    overrides the daemon's settings.
    """
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    # Create the instance's SQLite storage before the daemon starts: two processes creating
    # it at once can fail ("table alembic_version already exists").
    dg.DagsterInstance.from_config(str(home)).dispose()
    tenant = Tenant.generate(TenantSpec.preset("tiny"))
    c1_options = {"lease_timeout_s": 1.5, "next_heartbeat_s": 1, **c1_options}
    litmos_options: dict[str, Any] = {"api_key": api_key} if api_key else {}
    with LitmosSandbox(tenant, rate_limit_per_minute=None, latency_ms=latency_ms,
                       **litmos_options) as litmos, C1Sandbox(**c1_options) as c1:
        if before_daemon:
            before_daemon(litmos, c1)
        client_id, secret = c1.register_client("daemon")
        env = {
            **os.environ, "DAGSTER_HOME": str(home),
            "LITMOS_API_KEY": litmos.api_key, "LITMOS_SOURCE": "pytest",
            "LITMOS_BASE_URL": litmos.base_url, "LITMOS_REQUESTS_PER_MINUTE": "100000",
            "LITMOS_MAX_RETRIES": "1", "LITMOS_DUCKDB_PATH": str(tmp_path / "w.duckdb"),
            "C1Z_OUTPUT_DIR": str(tmp_path / "c1z"), "C1_SENSOR_INTERVAL_S": "1",
            # Every C1 sync task is a full sync, and no refresh fires by itself (the
            # refresh tests and benchmark turn these on).
            "LITMOS_SNAPSHOT_MAX_AGE_S": "0", "LITMOS_REFRESH_CRON": "0 0 1 1 *",
            "C1_CLIENT_ID": client_id, "C1_CLIENT_SECRET": secret,
            "C1_API_URL": c1.api_url, "C1_GRPC_TARGET": c1.grpc_target,
            **(env_extra or {}),
        }
        daemon = processes.start(
            "dagster-daemon",
            [str(Path(sys.executable).parent / "dagster-daemon"), "run", "-m",
             "litmos_pipeline.definitions"],
            env=env, ready_json=False, cwd=PROJECT_ROOT, log_path=tmp_path / "daemon.log")
        try:
            yield World(litmos, c1, home, tmp_path, secret, env)
        finally:
            daemon.stop()
