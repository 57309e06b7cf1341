"""The harness of the crash and fault matrix (`benchmarks/reliability.py`): one "world" per
case — a Litmos sandbox and a C1 sandbox on 127.0.0.1, a fresh DAGSTER_HOME, DuckDB file
and c1z folder seeded with a clean sync's snapshot — and what a case reads back from it.

Runs go through production's own paths: `dagster job execute` for a headless sync (the
helpers of `benchmarks/sync.py`), and a real `dagster-daemon` (task sensor -> run ->
upload -> FinishTask) for everything C1 drives.
"""

from __future__ import annotations

import collections
import hashlib
import os
import re
import shutil
import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import psutil

from benchmarks.sync import (
    DAGSTER_YAML,
    REPO_ROOT,
    BenchError,
    execute_run,
    make_mode,
    run_argv,
    run_env,
)
from litmos_sandbox import processes
from litmos_sandbox.c1 import C1Sandbox
from litmos_sandbox.litmos import LitmosSandbox
from litmos_sandbox.litmos.tenant import TenantSpec

C1_TABLES = ("c1_resource_types", "c1_resources", "c1_entitlements", "c1_grants")
RUN_TIMEOUT_S = 240.0
DAEMON_STOP_S = 20.0
POLL_S = 0.2
PID_RE = re.compile(r"Started process for run \(pid: (\d+)\)")


def tenant_spec(preset: str) -> TenantSpec:
    # Half the enrollments of the preset, so grant tasks find courses a user is not in yet
    # (small: 1,000 users -> two user pages, some courses past one page of enrollees).
    spec = TenantSpec.preset(preset)
    return TenantSpec.preset(preset, enrollments=max(1, spec.enrollments // 2))


# ---------------------------------------------------------------------------------------
# What a case reads back
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class State:
    """The published snapshot: every c1_* table (all columns, sorted), the grant ids as
    stored (duplicates kept), and latest.c1z's digest."""

    tables: dict[str, tuple[tuple[Any, ...], ...]]
    grant_ids: tuple[str, ...]
    latest_sha256: str | None

    def same_tables(self, other: State) -> bool:
        return self.tables == other.tables

    def diff(self, other: State) -> str:
        """Which tables differ from `other`, with row counts."""
        parts = [f"{t} {len(self.tables.get(t, ()))} vs {len(other.tables.get(t, ()))} rows"
                 for t in C1_TABLES if self.tables.get(t) != other.tables.get(t)]
        return "; ".join(parts) or "none"


def read_state(duckdb_path: Path, c1z_dir: Path) -> State:
    tables: dict[str, tuple[tuple[Any, ...], ...]] = {}
    grant_ids: tuple[str, ...] = ()
    if duckdb_path.exists():
        with duckdb.connect(str(duckdb_path), read_only=True) as con:
            for table in C1_TABLES:
                rows = con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall()
                tables[table] = tuple(tuple(_hashable(v) for v in r) for r in rows)
            grant_ids = tuple(r[0] for r in con.execute(
                "SELECT grant_id FROM c1_grants ORDER BY grant_id").fetchall())
    latest = c1z_dir / "latest.c1z"
    sha = hashlib.sha256(latest.read_bytes()).hexdigest() if latest.exists() else None
    return State(tables, grant_ids, sha)


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def grants_lost(final: State, reference: State) -> int:
    return len(set(reference.grant_ids) - set(final.grant_ids))


def grants_duplicated(final: State) -> int:
    return len(final.grant_ids) - len(set(final.grant_ids))


def duplicate_writes(writes: list[dict[str, Any]]) -> int:
    """Litmos writes sent more than once to the same path (each case's tasks touch
    distinct paths, so a repeat is a duplicate effect)."""
    counts = collections.Counter((w["method"], w["path"]) for w in writes)
    return sum(n - 1 for n in counts.values() if n > 1)


def duplicate_finishes(c1: C1Sandbox) -> int:
    """FinishTask calls beyond the first per task (accepted or refused)."""
    counts = collections.Counter(f.task_id for f in c1.finishes)
    return sum(n - 1 for n in counts.values() if n > 1)


# ---------------------------------------------------------------------------------------
# A world
# ---------------------------------------------------------------------------------------


@dataclass
class World:
    name: str
    root: Path
    litmos: LitmosSandbox
    c1: C1Sandbox
    client_id: str
    client_secret: str
    env_extra: dict[str, str] = field(default_factory=dict)
    daemon: processes.Child | None = None
    daemon_starts: int = 0
    headless_runs: int = 0

    @property
    def home(self) -> Path:
        return self.root / "dagster_home"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def c1z_dir(self) -> Path:
        return self.root / "c1z"

    @property
    def duckdb_path(self) -> Path:
        return self.data / "litmos.duckdb"

    def env(self, with_c1: bool) -> dict[str, str]:
        mode = make_mode("unthrottled", "small", True, latency_ms=0.0)
        env = run_env(mode, self.litmos.base_url, self.litmos.api_key, self.home, self.data,
                      self.c1z_dir)
        # Every C1 sync task is a full sync, and no refresh fires by itself.
        env.update({"LITMOS_MAX_RETRIES": "6", "C1_SENSOR_INTERVAL_S": "2",
                    "LITMOS_SNAPSHOT_MAX_AGE_S": "0", "LITMOS_REFRESH_CRON": "0 0 1 1 *",
                    "LITMOS_SOURCE": "litmos-pipeline-reliability"})
        if with_c1:
            env.update({"C1_CLIENT_ID": self.client_id, "C1_CLIENT_SECRET": self.client_secret,
                        "C1_API_URL": self.c1.api_url, "C1_GRPC_TARGET": self.c1.grpc_target,
                        "C1_HOST_ID": f"reliability-{self.name}"})
        env.update(self.env_extra)
        return env

    def state(self) -> State:
        return read_state(self.duckdb_path, self.c1z_dir)

    # -- a headless sync ------------------------------------------------------------

    def sync(self, timeout_s: float = RUN_TIMEOUT_S) -> bool:
        """`dagster job execute -j litmos_sync`; True when it exited 0."""
        self.headless_runs += 1
        log = self.root / f"sync-{self.headless_runs}.log"
        try:
            outcome = execute_run(run_argv(None), self.env(with_c1=False), log, timeout_s)
        except BenchError:
            return False
        return outcome.exit_code == 0

    # -- the daemon -------------------------------------------------------------------

    def start_daemon(self) -> None:
        self.daemon_starts += 1
        argv = [str(Path(sys.executable).parent / "dagster-daemon"), "run", "-m",
                "litmos_pipeline.definitions"]
        self.daemon = processes.start("dagster-daemon", argv, env=self.env(with_c1=True),
                                      ready_json=False, cwd=REPO_ROOT,
                                      log_path=self.root / f"daemon-{self.daemon_starts}.log")

    def stop_daemon(self) -> None:
        if self.daemon is not None:
            self.daemon.stop(DAEMON_STOP_S)
            self.daemon = None

    def kill_daemon(self) -> None:
        """SIGKILL the daemon process alone (not its group: runs it launched live on)."""
        if self.daemon is not None:
            _kill(self.daemon.process.pid)


@contextmanager
def open_world(name: str, work: Path, preset: str, seed_from: Path | None, *,
               litmos: dict[str, Any] | None = None,
               c1: dict[str, Any] | None = None) -> Iterator[World]:
    """Sandboxes and folders for one case; `seed_from` (a world's root) gives the previous
    snapshot, so a case starts where a clean sync left it."""
    root = work / name
    shutil.rmtree(root, ignore_errors=True)
    for sub in ("dagster_home", "data", "c1z", "c1-sandbox"):
        (root / sub).mkdir(parents=True)
    shutil.copyfile(DAGSTER_YAML, root / "dagster_home" / "dagster.yaml")
    if seed_from is not None:
        _seed(seed_from, root)
    litmos_opts = {"rate_limit_per_minute": None, "latency_ms": 5.0, **(litmos or {})}
    c1_opts = {"lease_timeout_s": 20.0, "next_heartbeat_s": 2.0, "next_poll_s": 0.5,
               "data_dir": root / "c1-sandbox", **(c1 or {})}
    with LitmosSandbox(tenant_spec(preset), **litmos_opts) as lit, C1Sandbox(**c1_opts) as cc:
        client_id, secret = cc.register_client("reliability")
        world = World(name, root, lit, cc, client_id, secret)
        try:
            yield world
        finally:
            world.stop_daemon()


def _seed(source: Path, root: Path) -> None:
    for path in (source / "data").glob("litmos.duckdb*"):
        shutil.copy2(path, root / "data" / path.name)
    for path in (source / "c1z").glob("*.c1z"):
        shutil.copy2(path, root / "c1z" / path.name)


# ---------------------------------------------------------------------------------------
# Watching runs through the world's Dagster instance
# ---------------------------------------------------------------------------------------


def wait_for(check: Callable[[], Any], timeout_s: float, poll_s: float = POLL_S) -> Any:
    """The first truthy value of `check()`, or None when the bound passes."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(poll_s)


@contextmanager
def instance(world: World) -> Iterator[Any]:
    import dagster as dg

    with dg.DagsterInstance.from_config(str(world.home)) as inst:
        yield inst


def runs_of(world: World, tags: dict[str, str] | None = None) -> list[Any]:
    import dagster as dg

    if not (world.home / "storage").exists():
        return []
    with instance(world) as inst:
        return list(inst.get_runs(filters=dg.RunsFilter(tags=tags or {})))


def task_filter(task_id: str) -> dict[str, str]:
    """The run tags of every run that served `task_id`, alone or in a batch."""
    return {f"c1/task.{task_id}": "1"}


def run_for_task(world: World, task_id: str) -> Any | None:
    runs = runs_of(world, task_filter(task_id))
    return runs[0] if runs else None


def run_events(world: World, run_id: str) -> list[Any]:
    with instance(world) as inst:
        return list(inst.all_logs(run_id))


def run_worker_pid(events: list[Any]) -> int | None:
    for entry in events:
        found = PID_RE.search(entry.message or "")
        if found:
            return int(found.group(1))
    return None


def step_started(events: list[Any], step: str) -> bool:
    return any(e.is_dagster_event and e.dagster_event.event_type_value == "STEP_START"
               and e.step_key == step for e in events)


def materialized(events: list[Any], asset: str) -> bool:
    return any(e.is_dagster_event and e.dagster_event.event_type_value
               == "ASSET_MATERIALIZATION" and e.dagster_event.asset_key
               and e.dagster_event.asset_key.to_user_string() == asset for e in events)


def check_evaluated(events: list[Any], step: str) -> bool:
    return any(e.is_dagster_event and e.dagster_event.event_type_value
               == "ASSET_CHECK_EVALUATION" and e.step_key == step for e in events)


def logged(events: list[Any], step: str, text: str) -> bool:
    return any(e.step_key == step and text in (e.user_message or "") for e in events)


def unfinished_runs(world: World) -> list[Any]:
    return [r for r in runs_of(world) if not r.is_finished]


def kill_tree(pid: int) -> list[int]:
    """SIGKILL a run worker and every process under it (its steps' workers), as the
    kernel's OOM killer or a lost machine would; returns the pids killed."""
    try:
        root = psutil.Process(pid)
        tree = [root, *root.children(recursive=True)]
    except psutil.Error:
        return []
    killed = []
    for proc in tree:
        if _kill(proc.pid):
            killed.append(proc.pid)
    return killed


def _kill(pid: int) -> bool:
    try:
        os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        return False
    return True
