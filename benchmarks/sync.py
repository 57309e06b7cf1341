"""Benchmark a full sync end to end: Litmos sandbox -> Dagster run -> DuckDB -> c1z.

    python -m benchmarks.sync --preset small --json
    python -m benchmarks.sync --preset all                  # what `make bench` runs
    python -m benchmarks.sync --preset large --modes throttled --roles off

Per mode it starts the Litmos sandbox (a child process on 127.0.0.1), then runs
`dagster job execute -j litmos_sync` as a separate process with a fresh DAGSTER_HOME,
DuckDB file and c1z directory, and reports what the run cost: API requests against the
floor computed from the sandbox's own tenant model, 503s, wall and stage times, local
(non-API) time, CPU, peak memory, file sizes and c1z throughput.

Memory is measured two ways, both for the run process tree only (the sandbox stands in
for Litmos and is not part of the run): the kernel's high-water mark from os.wait4
(ru_maxrss: the largest single process of the tree, exact) and psutil polling every
0.1 s (sum of RSS over the tree, and which processes the run had; may miss short peaks).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import pstats
import re
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psutil

from litmos_sandbox import processes
from litmos_sandbox.litmos.tenant import Tenant, TenantSpec

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_WORK_DIR = REPO_ROOT / ".bench"
DAGSTER_YAML = REPO_ROOT / "dagster_home" / "dagster.yaml"

PAGE = 1000  # the client's page size (litmos.client.PAGE_SIZE); the floor assumes it
LATENCY_MS = 20.0
# "Unpaced": the settings need a positive rate; this one never makes the pacer wait.
UNPACED_RPM = 1_000_000_000
# Throttled: the sandbox admits 6000 per sliding minute; the client paces at 5900 (98.3%).
# At exactly 6000 the client's window (request start times) and the server's (arrival
# times) differ by loopback jitter, so the 6001st start can land inside the server's
# minute and be refused; 100 a minute of margin is ~1 s of slack per window and costs
# 1.7% of wall time. Litmos' real limit (100/min) with the pipeline's default (90/min)
# keeps a wider margin because there a provisioning budget must fit beside the sync.
THROTTLED_SERVER_RPM = 6000
THROTTLED_CLIENT_RPM = 5900
# No added latency when throttled: a sequential client cannot pace at 60/5900 s = 10.2 ms
# a request if each request takes longer than that, and we want to measure pacing here.
THROTTLED_LATENCY_MS = 0.0
# Litmos' own limit, and the pipeline's default pacing under it: a whole run's wall time
# against requests / rate, which at 60x the rate the local work (model, c1z) would swamp.
REAL_SERVER_RPM = 100
REAL_CLIENT_RPM = 90
MODE_NAMES = ("unthrottled", "throttled", "real-rate")

EXTRACT_ASSETS = ("litmos_users", "litmos_teams", "litmos_courses", "litmos_modules",
                  "litmos_learning_paths", "litmos_team_members", "litmos_learning_path_users",
                  "litmos_course_enrollments")
MODEL_ASSETS = ("c1_resource_types", "c1_resources", "c1_entitlements", "c1_grants")
ALL_ASSETS = (*EXTRACT_ASSETS, *MODEL_ASSETS, "access_changes", "c1_sync_file")

# Targets from the issue.
TARGET_LOCAL_S = 60.0
TARGET_RSS_MB = 300.0
TARGET_C1Z_GRANTS_PER_S = 100_000
TARGET_PACING_TOLERANCE = 0.05

SAMPLE_INTERVAL_S = 0.1
SANDBOX_READY_TIMEOUT_S = 180.0
HTTP_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 20.0
MB = 1024 * 1024


class BenchError(RuntimeError):
    """The benchmark could not run a mode (not: the run failed; that is reported)."""


# ---------------------------------------------------------------------------------------
# What to run
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mode:
    name: str  # one of MODE_NAMES
    preset: str
    roles: bool
    latency_ms: float
    server_rpm: int | None  # the sandbox's limit; None: off
    client_rpm: float  # LITMOS_REQUESTS_PER_MINUTE
    modules: bool = False  # LITMOS_SYNC_MODULES (off by default, as in the pipeline)

    @property
    def label(self) -> str:
        roles = f"{self.preset}/{self.name}/roles-{'on' if self.roles else 'off'}"
        return roles + ("/modules" if self.modules else "")

    @property
    def slug(self) -> str:
        return self.label.replace("/", "-")


def make_mode(name: str, preset: str, roles: bool, latency_ms: float | None = None,
              modules: bool = False) -> Mode:
    return replace(_make_mode(name, preset, roles, latency_ms), modules=modules)


def _make_mode(name: str, preset: str, roles: bool, latency_ms: float | None) -> Mode:
    if name == "unthrottled":
        return Mode(name, preset, roles, LATENCY_MS if latency_ms is None else latency_ms,
                    None, UNPACED_RPM)
    if name == "throttled":
        return Mode(name, preset, roles, THROTTLED_LATENCY_MS, THROTTLED_SERVER_RPM,
                    THROTTLED_CLIENT_RPM)
    if name == "real-rate":
        return Mode(name, preset, roles, LATENCY_MS if latency_ms is None else latency_ms,
                    REAL_SERVER_RPM, REAL_CLIENT_RPM)
    raise ValueError(f"unknown mode {name!r}; expected one of {', '.join(MODE_NAMES)}")


def plan(preset: str, modes: Sequence[str] | None, roles: str | None,
         latency_ms: float | None = None, modules: bool = False) -> list[Mode]:
    """The runs for the command line; explicit --modes/--roles give their product."""
    if preset == "all" and modes is None and roles is None and latency_ms is None \
            and not modules:
        # The issue's matrix: the small tenant as a quick regression figure (and once at
        # Litmos' real rate, ~2 minutes), the large one with team roles on and off unpaced,
        # and paced with roles off (half the requests).
        return [make_mode("unthrottled", "small", True),
                make_mode("throttled", "small", True),
                make_mode("real-rate", "small", True),
                make_mode("unthrottled", "large", True),
                make_mode("unthrottled", "large", False),
                make_mode("throttled", "large", False)]
    presets = ["small", "large"] if preset == "all" else [preset]
    role_values = {"on": [True], "off": [False], "both": [True, False]}[roles or "on"]
    return [make_mode(m, p, r, latency_ms, modules) for p in presets
            for m in (modes or ["unthrottled"]) for r in role_values]


# ---------------------------------------------------------------------------------------
# The floor, from the sandbox's own tenant model
# ---------------------------------------------------------------------------------------

# Sandbox request kinds (requests_by_kind) for each list the sync reads.
KINDS = {
    "users": "GET /users",
    "teams": "GET /teams",
    "courses": "GET /courses",
    "team_members": "GET /teams/{id}/users",
    "team_leaders": "GET /teams/{id}/leaders",
    "team_admins": "GET /teams/{id}/admins",
    "course_users": "GET /courses/{id}/users",
    "course_modules": "GET /courses/{id}/modules",
    "learning_paths": "GET /learningpaths",
    "learning_path_users": "GET /learningpaths/{id}/users",
    "user_logins": "GET /org/users/logins",
}
LAST_LOGIN_DAYS = 7  # LITMOS_LAST_LOGIN_DAYS' default: one 7-day window of sign-ins
ROLE_LISTS = ("team_leaders", "team_admins")
MODULE_LISTS = ("course_modules",)  # read with LITMOS_SYNC_MODULES only


def pages(n: int) -> int:
    """Requests for a list of n rows: the last page is the first one shorter than PAGE."""
    return n // PAGE + 1


@cache
def tenant_model(preset: str) -> Tenant:
    return Tenant.generate(TenantSpec.preset(preset))


@dataclass(frozen=True)
class Floor:
    by_list: dict[str, int]
    summary: dict[str, int]

    def by_kind(self, roles: bool, modules: bool = False) -> dict[str, int]:
        return {KINDS[k]: n for k, n in self.by_list.items()
                if (roles or k not in ROLE_LISTS) and (modules or k not in MODULE_LISTS)}

    def total(self, roles: bool, modules: bool = False) -> int:
        return sum(self.by_kind(roles, modules).values())


@cache
def request_floor(preset: str) -> Floor:
    """floor(n/1000)+1 per list (litmos-api.md), n counted on the generated tenant.

    GET /teams/{id}/users lists active members only, so members count active users;
    leaders and admins lists are not filtered.
    """
    t = tenant_model(preset)
    teams, courses, paths = t.teams(), t.courses(), t.learning_paths()
    by_list = {
        "users": pages(len(t.users())),
        "teams": pages(len(teams)),
        "courses": pages(len(courses)),
        "team_members": sum(pages(len(t.team_members(x.id, active_only=True))) for x in teams),
        "team_leaders": sum(pages(len(t.team_leaders(x.id))) for x in teams),
        "team_admins": sum(pages(len(t.team_admins(x.id))) for x in teams),
        "course_users": sum(pages(t.course_enrollee_count(c.id)) for c in courses),
        "course_modules": sum(pages(len(t.course_modules(c.id))) for c in courses),
        # LITMOS_SYNC_LEARNING_PATHS is on by default: one list, one users list per path.
        "learning_paths": pages(len(paths)),
        "learning_path_users": sum(pages(len(t.learning_path_users(p.id))) for p in paths),
        # Last logins: who signed in within the look-back, one query per 7 days.
        "user_logins": math.ceil(LAST_LOGIN_DAYS / 7) * pages(recent_logins(t)),
    }
    return Floor(by_list, t.summary())


def recent_logins(t: Tenant) -> int:
    """Users whose LastLogin lies in the last LAST_LOGIN_DAYS (the generated tenant's lie
    before its frozen "today", 2025-06-01, so none do unless a test signs users in)."""
    cutoff = datetime.now(UTC).replace(tzinfo=None) - timedelta(days=LAST_LOGIN_DAYS)
    return sum(1 for u in t.users() if u.last_login
               and datetime.fromisoformat(u.last_login.rstrip("Z")[:19]) >= cutoff)


# ---------------------------------------------------------------------------------------
# Processes: the sandbox, the run, and sampling the run's memory
# ---------------------------------------------------------------------------------------


def loopback_only(url: str) -> str:
    host = urlsplit(url).hostname
    if host != "127.0.0.1":
        raise BenchError(f"refusing to talk to {host!r}: the benchmark uses 127.0.0.1 only")
    return url


def sandbox_args(mode: Mode) -> list[str]:
    # The sandbox binds 127.0.0.1 by default; start_litmos_sandbox adds --port 0.
    return ["--preset", mode.preset, "--rate-limit", str(mode.server_rpm or 0),
            "--latency-ms", f"{mode.latency_ms:g}"]


def control_url(base_url: str) -> str:
    parts = urlsplit(loopback_only(base_url))
    return f"{parts.scheme}://{parts.netloc}/_sandbox"


def sandbox_stats(base_url: str) -> dict[str, Any]:
    response = httpx.get(f"{control_url(base_url)}/stats", timeout=HTTP_TIMEOUT_S)
    response.raise_for_status()
    return dict(response.json())


def reset_sandbox_stats(base_url: str) -> None:
    httpx.post(f"{control_url(base_url)}/reset-stats",
               timeout=HTTP_TIMEOUT_S).raise_for_status()


@dataclass
class Sample:
    at: float  # time.time(), comparable with Dagster's step timestamps
    tree_rss: int


@dataclass
class TreeSampler:
    """Polls RSS of a process and its descendants in a thread (psutil)."""

    pid: int
    interval_s: float = SAMPLE_INTERVAL_S
    watch_dir: Path | None = None  # its size is sampled too (the run's DuckDB files)
    peak_dir_bytes: int = 0
    samples: list[Sample] = field(default_factory=list)
    peaks: dict[int, tuple[str, int]] = field(default_factory=dict)  # pid -> (name, rss)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> TreeSampler:
        self._thread = threading.Thread(target=self._loop, name="rss-sampler", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        try:
            root = psutil.Process(self.pid)
        except psutil.Error:
            return
        while not self._stop.is_set():
            self.sample(root)
            if self.watch_dir is not None:
                self.peak_dir_bytes = max(self.peak_dir_bytes, dir_bytes(self.watch_dir))
            self._stop.wait(self.interval_s)

    def sample(self, root: psutil.Process) -> None:
        try:
            tree = [root, *root.children(recursive=True)]
        except psutil.Error:
            return
        total = 0
        for proc in tree:
            try:
                rss = proc.memory_info().rss
                name = " ".join(Path(a).name if "/" in a else a
                                for a in proc.cmdline()[:5])[:60] or proc.name()
            except psutil.Error:
                continue
            total += rss
            if rss > self.peaks.get(proc.pid, ("", 0))[1]:
                self.peaks[proc.pid] = (name, rss)
        if total:
            self.samples.append(Sample(time.time(), total))

    @property
    def peak_tree_rss(self) -> int:
        return max((s.tree_rss for s in self.samples), default=0)

    def peak_between(self, start: float, end: float) -> int | None:
        """None when the span was shorter than the sampling interval."""
        return max((s.tree_rss for s in self.samples if start <= s.at <= end), default=None)


def dir_bytes(root: Path) -> int:
    total = 0
    for path in root.rglob("*"):
        try:
            total += path.stat().st_size if path.is_file() else 0
        except OSError:
            continue  # a file removed while we looked
    return total


@dataclass
class RunOutcome:
    exit_code: int
    wall_s: float
    rusage: resource.struct_rusage
    sampler: TreeSampler
    # Wall-clock (time.time()) start and exit, to compare with the run's own event times.
    started_at: float = 0.0
    ended_at: float = 0.0


def run_env(mode: Mode, base_url: str, api_key: str, home: Path, data: Path,
            c1z_dir: Path, duckdb_memory_limit: str | None = None) -> dict[str, str]:
    """The run's settings; C1 credentials are dropped so the c1z is written, not uploaded."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("LITMOS_", "C1_", "C1Z_", "DAGSTER_"))}
    env.update({
        "DAGSTER_HOME": str(home),
        "LITMOS_API_KEY": api_key,
        "LITMOS_SOURCE": "litmos-pipeline-bench",
        "LITMOS_BASE_URL": loopback_only(base_url),
        "LITMOS_REQUESTS_PER_MINUTE": f"{mode.client_rpm:g}",
        "LITMOS_SYNC_TEAM_ROLES": "true" if mode.roles else "false",
        "LITMOS_SYNC_MODULES": "true" if mode.modules else "false",
        "LITMOS_DUCKDB_PATH": str(data / "litmos.duckdb"),
        "C1Z_OUTPUT_DIR": str(c1z_dir),
    })
    if duckdb_memory_limit:
        env["LITMOS_DUCKDB_MEMORY_LIMIT"] = duckdb_memory_limit
    return env


def run_argv(profile_to: Path | None) -> list[str]:
    job = ["job", "execute", "-m", "litmos_pipeline.definitions", "-j", "litmos_sync"]
    if profile_to is None:
        return [sys.executable, "-m", "dagster", *job]
    return [sys.executable, "-m", "cProfile", "-o", str(profile_to), "-m", "dagster", *job]


def wait_reaped(pid: int, timeout_s: float) -> tuple[int, resource.struct_rusage] | None:
    """os.wait4 the child: its exit code and rusage (CPU, ru_maxrss of the tree)."""
    deadline = time.monotonic() + timeout_s
    while True:
        reaped, status, usage = os.wait4(pid, os.WNOHANG)
        if reaped == pid:
            return os.waitstatus_to_exitcode(status), usage
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.05)


def execute_run(argv: list[str], env: dict[str, str], log_path: Path,
                timeout_s: float, data_dir: Path | None = None) -> RunOutcome:
    started = time.monotonic()
    started_at = time.time()
    child = processes.start("dagster run", argv, env=env, ready_json=False,
                            log_path=log_path, cwd=REPO_ROOT)
    sampler = TreeSampler(child.process.pid, watch_dir=data_dir).start()
    try:
        reaped = wait_reaped(child.process.pid, timeout_s)
        wall = time.monotonic() - started
        ended_at = time.time()
        if reaped is None:
            raise BenchError(f"the run did not finish within {timeout_s:.0f}s (log: {log_path})")
        code, usage = reaped
        # Reaped by wait4 above: tell Popen, so stop() below does not wait on it again.
        child.process.returncode = code
    finally:
        sampler.stop()
        # Also clears the run's process group (Dagster's log helpers, if left behind).
        child.stop(STOP_TIMEOUT_S)
    return RunOutcome(code, wall, usage, sampler, started_at, ended_at)


def run_timeout_s(mode: Mode, floor: int) -> float:
    """Generous but bounded: per request latency + pacing + a fixed allowance."""
    paced = floor * 60.0 / mode.client_rpm
    per_request = floor * (mode.latency_ms / 1000 + 0.05)
    return 900.0 + paced + per_request


# ---------------------------------------------------------------------------------------
# What the run recorded in Dagster
# ---------------------------------------------------------------------------------------


@dataclass
class RunFacts:
    run_id: str | None = None
    status: str = "missing"
    run_wall_s: float | None = None
    run_span: tuple[float, float] | None = None
    steps: dict[str, tuple[float, float, str]] = field(default_factory=dict)
    metadata: dict[str, dict[str, Any]] = field(default_factory=dict)

    def step_s(self, key: str) -> float | None:
        span = self.steps.get(key)
        return round(span[1] - span[0], 2) if span else None

    def total(self, assets: Sequence[str], key: str) -> float:
        return sum(float(self.metadata.get(a, {}).get(key) or 0) for a in assets)

    def value(self, asset: str, key: str) -> Any:
        return self.metadata.get(asset, {}).get(key)


def read_run_facts(home: Path) -> RunFacts:
    """Step times and materialization metadata from the mode's own Dagster instance."""
    import dagster as dg

    facts = RunFacts()
    with dg.DagsterInstance.from_config(str(home)) as instance:
        runs = instance.get_runs(limit=1)
        if not runs:
            return facts
        run = runs[0]
        facts.run_id, facts.status = run.run_id, run.status.value
        stats = instance.get_run_stats(run.run_id)
        if stats.start_time and stats.end_time:
            facts.run_wall_s = round(stats.end_time - stats.start_time, 2)
            facts.run_span = (stats.start_time, stats.end_time)
        for step in instance.get_run_step_stats(run.run_id):
            if step.start_time and step.end_time:
                facts.steps[step.step_key] = (step.start_time, step.end_time,
                                              step.status.value if step.status else "")
        for asset in ALL_ASSETS:
            event = instance.get_latest_materialization_event(dg.AssetKey(asset))
            if event is None or event.asset_materialization is None:
                continue
            facts.metadata[asset] = {k: getattr(v, "value", v) for k, v in
                                     event.asset_materialization.metadata.items()
                                     if k != "preview"}
    return facts


def run_failure(log_path: Path) -> str:
    """Which step failed and the underlying exception (not Dagster's wrapper), for the report."""
    if not log_path.exists():
        return "no log"
    text = log_path.read_text(errors="replace")
    failed = re.findall(r'STEP_FAILURE - Execution of step "([^"]+)"', text)
    errors = re.findall(r"^(\w[\w.]*(?:Error|Exception|Refused|Timeout)[^\n]*?: [^\n]+)", text,
                        re.M)
    own = [e for e in errors if not e.startswith("dagster")]
    step = f"step {failed[0]} failed: " if failed else ""
    return (step + (own or errors or ["see the run log"])[0])[:400]


# ---------------------------------------------------------------------------------------
# One mode
# ---------------------------------------------------------------------------------------


def file_mb(*paths: Path) -> float:
    return round(sum(p.stat().st_size for p in paths if p.exists()) / MB, 1)


def mb(n_bytes: int | None) -> float | None:
    return None if n_bytes is None else round(n_bytes / MB, 1)


def run_mode(mode: Mode, work_root: Path, *, keep: bool, profile_dir: Path | None,
             timeout_override_s: float | None, duckdb_memory_limit: str | None,
             log: Any) -> dict[str, Any]:
    floor = request_floor(mode.preset)
    want = floor.total(mode.roles, mode.modules)
    work = work_root / f"{datetime.now():%Y%m%d-%H%M%S}-{mode.slug}"
    home, data, c1z_dir = work / "dagster_home", work / "data", work / "c1z"
    for d in (home, data, c1z_dir):
        d.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(DAGSTER_YAML, home / "dagster.yaml")
    profile_to = profile_dir / f"{mode.slug}.prof" if profile_dir else None
    log(f"[{mode.label}] starting sandbox ({' '.join(sandbox_args(mode))})")
    sandbox = processes.start(
        "litmos sandbox",
        processes.python_module("litmos_sandbox", "litmos", "--port", "0",
                                *sandbox_args(mode)),
        log_path=work / "sandbox.log", timeout_s=SANDBOX_READY_TIMEOUT_S)
    sandbox_sampler: TreeSampler | None = None
    ok = False
    try:
        base_url = loopback_only(sandbox.info["base_url"])
        sandbox_sampler = TreeSampler(sandbox.process.pid, interval_s=0.5).start()
        reset_sandbox_stats(base_url)
        env = run_env(mode, base_url, sandbox.info["api_key"], home, data, c1z_dir,
                      duckdb_memory_limit)
        timeout = timeout_override_s or run_timeout_s(mode, want)
        log(f"[{mode.label}] running litmos_sync (floor {want} requests, "
            f"timeout {timeout:.0f}s)")
        load_before = os.getloadavg()[0]
        outcome = execute_run(run_argv(profile_to), env, work / "run.log", timeout, data)
        stats = sandbox_stats(base_url)
        sandbox_sampler.stop()
        facts = read_run_facts(home)
        result = summarize(mode, floor, outcome, facts, stats, data, c1z_dir)
        result["sandbox_peak_rss_mb"] = round(sandbox_sampler.peak_tree_rss / MB, 1)
        result["duckdb_memory_limit"] = duckdb_memory_limit or "pipeline default"
        # Other work on this 2-core machine skews timings; the 1-minute load shows it.
        result["loadavg_1m_before_after"] = [round(load_before, 2),
                                             round(os.getloadavg()[0], 2)]
        if facts.status != "SUCCESS" or outcome.exit_code != 0:
            result["error"] = run_failure(work / "run.log")
        if profile_to is not None:
            result["profile"] = write_profile_summary(profile_to)
        ok = "error" not in result
        result["work_dir"] = str(work) if (keep or not ok) else None
        return result
    finally:
        if sandbox_sampler is not None:
            sandbox_sampler.stop()
        sandbox.stop(STOP_TIMEOUT_S)
        if ok and not keep:
            shutil.rmtree(work, ignore_errors=True)


def summarize(mode: Mode, floor: Floor, outcome: RunOutcome, facts: RunFacts,
              stats: dict[str, Any], data: Path, c1z_dir: Path) -> dict[str, Any]:
    want = floor.total(mode.roles, mode.modules)
    requests = int(stats.get("total_requests", 0))
    by_kind = stats.get("requests_by_kind", {})
    expected_kinds = floor.by_kind(mode.roles, mode.modules)
    over_by_kind = {k: by_kind.get(k, 0) - n for k, n in expected_kinds.items()
                    if by_kind.get(k, 0) != n}
    over_by_kind |= {k: n for k, n in by_kind.items() if k not in expected_kinds}
    # One extract step materializes the five extract assets; each carries its figures.
    def extract_figure(key: str) -> float:
        return float(facts.value(EXTRACT_ASSETS[0], f"extract_{key}") or 0)

    http_s = extract_figure("api_http_s")
    wait_s = extract_figure("api_wait_s")
    # Wall time with any request or wait under way (requests overlap on the fetch threads, so
    # http + waits would count some of it twice).
    busy_s = extract_figure("api_busy_s")
    extract_s = extract_figure("elapsed_s")
    rows = int(facts.total(EXTRACT_ASSETS, "rows"))
    usage = outcome.rusage
    grants = facts.value("c1_sync_file", "grants") or facts.value("c1_grants", "rows")
    write_s = facts.value("c1_sync_file", "write_s")
    grants_per_s = facts.value("c1_sync_file", "grants_per_s")
    if grants_per_s is None and grants and write_s:
        grants_per_s = round(grants / write_s)
    c1z_files = [p for p in c1z_dir.glob("*.c1z") if p.name != "latest.c1z"]
    paced_s = requests * 60.0 / mode.client_rpm
    result: dict[str, Any] = {
        "mode": mode.name, "preset": mode.preset, "roles": mode.roles, "modules": mode.modules,
        "label": mode.label,
        "latency_ms": mode.latency_ms, "server_rpm": mode.server_rpm,
        "client_rpm": mode.client_rpm if mode.client_rpm < UNPACED_RPM else None,
        "tenant": floor.summary,
        "run_status": facts.status, "exit_code": outcome.exit_code, "run_id": facts.run_id,
        "requests": requests, "floor": want,
        "floor_roles_on": floor.total(True), "floor_roles_off": floor.total(False),
        "requests_over_floor": requests - want, "requests_off_floor_by_kind": over_by_kind,
        "client_requests": int(extract_figure("api_requests")),
        "rate_limited_503s": int(stats.get("rate_limited_503s", 0)),
        "client_503s": int(extract_figure("api_503s")),
        "retries": int(extract_figure("api_retries")),
        "max_requests_in_window": stats.get("max_requests_in_window"),
        "wall_s": round(outcome.wall_s, 2),
        "run_wall_s": facts.run_wall_s,
        # Outside the run: `dagster job execute` starting up (imports, a fresh instance,
        # the run record) and, after the run's last event, shutting down.
        "launch_s": round(facts.run_span[0] - outcome.started_at, 2) if facts.run_span else None,
        "exit_s": round(outcome.ended_at - facts.run_span[1], 2) if facts.run_span else None,
        "extract_s": round(extract_s, 2),
        "transform_s": facts.value("c1_grants", "transform_s"),
        "swap_s": facts.value("c1_grants", "swap_s"),
        "access_changes_s": facts.step_s("access_changes"),
        "c1z_write_s": write_s,
        "c1z_stage_s": {k: v for k, v in facts.metadata.get("c1_sync_file", {}).items()
                        if k.endswith("_s") and k != "write_s"},
        "step_s": {k: facts.step_s(k) for k in facts.steps},
        "api_http_s": round(http_s, 2), "api_wait_s": round(wait_s, 2),
        "api_busy_s": round(busy_s, 2),
        "local_s": round(outcome.wall_s - busy_s, 2),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "cpu_user_s": round(usage.ru_utime, 2), "cpu_sys_s": round(usage.ru_stime, 2),
        "rows": rows,
        "rows_per_s": round(rows / outcome.wall_s) if outcome.wall_s else None,
        "extract_rows_per_s": round(rows / extract_s) if extract_s else None,
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),  # Linux: KiB
        "peak_rss_source": "os.wait4 ru_maxrss (largest process of the run tree)",
        "peak_tree_rss_mb_sampled": round(outcome.sampler.peak_tree_rss / MB, 1),
        "run_processes": {f"{pid} {name}": round(rss / MB, 1)
                          for pid, (name, rss) in sorted(outcome.sampler.peaks.items())},
        "peak_rss_mb_by_step": {k: mb(outcome.sampler.peak_between(s, e))
                                for k, (s, e, _) in facts.steps.items()},
        "duckdb_mb": file_mb(data / "litmos.duckdb", data / "litmos.duckdb.wal"),
        # The staging file is deleted once the c1z is written; its size shows in the peak.
        "staging_mb": file_mb(*(data / "staging").glob("*.duckdb*")),
        "peak_data_dir_mb": round(outcome.sampler.peak_dir_bytes / MB, 1),
        "c1z_bytes": sum(p.stat().st_size for p in c1z_files),
        "grants": grants,
        "c1z_grants_per_s": grants_per_s,
    }
    if mode.server_rpm:
        result["paced_expectation_s"] = round(paced_s, 2)
        result["extract_over_paced"] = round(extract_s / paced_s, 4) if paced_s else None
        result["wall_over_paced"] = round(outcome.wall_s / paced_s, 4) if paced_s else None
        result["wall_over_server_rate"] = (
            round(outcome.wall_s / (requests * 60.0 / mode.server_rpm), 4) if requests else None)
    result["targets"] = targets(mode, result)
    return result


def targets(mode: Mode, r: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The issue's targets that apply to this mode: value, target, ok."""
    out: dict[str, dict[str, Any]] = {
        "requests_equal_floor": {"value": r["requests"], "target": f"== {r['floor']}",
                                 "ok": r["requests"] == r["floor"]},
    }
    if mode.server_rpm:
        out["zero_503s"] = {"value": r["rate_limited_503s"], "target": "== 0",
                            "ok": r["rate_limited_503s"] == 0}
        ratio = r.get("extract_over_paced")
        out["extract_within_5pct_of_paced"] = {
            "value": ratio, "target": f"<= {1 + TARGET_PACING_TOLERANCE}",
            "ok": ratio is not None and abs(ratio - 1) <= TARGET_PACING_TOLERANCE}
        wall_ratio = r.get("wall_over_paced")
        out["wall_within_5pct_of_paced"] = {
            "value": wall_ratio, "target": f"<= {1 + TARGET_PACING_TOLERANCE}",
            "ok": wall_ratio is not None and abs(wall_ratio - 1) <= TARGET_PACING_TOLERANCE}
    if mode.preset == "large":
        out["local_s"] = {"value": r["local_s"], "target": f"< {TARGET_LOCAL_S:g}",
                          "ok": r["local_s"] < TARGET_LOCAL_S}
        out["peak_rss_mb"] = {"value": r["peak_rss_mb"], "target": f"< {TARGET_RSS_MB:g}",
                              "ok": r["peak_rss_mb"] < TARGET_RSS_MB}
    rate = r.get("c1z_grants_per_s")
    out["c1z_grants_per_s"] = {"value": rate, "target": f">= {TARGET_C1Z_GRANTS_PER_S}",
                               "ok": rate is not None and rate >= TARGET_C1Z_GRANTS_PER_S}
    return out


def write_profile_summary(prof: Path, top: int = 30) -> str:
    """Top functions by cumulative and own time, written beside the .prof file."""
    out = prof.with_suffix(".txt")
    with out.open("w") as fh:
        for key in ("cumulative", "tottime"):
            fh.write(f"==== sorted by {key}\n")
            stats = pstats.Stats(str(prof), stream=fh)
            stats.strip_dirs().sort_stats(key).print_stats(top)
    return str(out)


# ---------------------------------------------------------------------------------------
# Reporting
# ---------------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    import dagster
    import duckdb

    model = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        found = re.search(r"^model name\s*:\s*(.+)$", cpuinfo.read_text(), re.M)
        model = found.group(1).strip() if found else model
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "ram_gb": round(psutil.virtual_memory().total / 1024**3, 1),
        "cpu_model": model,
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
        "dagster": dagster.__version__,
        "platform": platform.platform(),
        **source_version(),
    }


def source_version() -> dict[str, Any]:
    """Which code was measured: HEAD and the files changed since (helpers edit in place)."""

    def git(*args: str) -> str:
        try:
            done = subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True,
                                  text=True, timeout=10, check=False)
        except (OSError, subprocess.TimeoutExpired):
            return ""
        return done.stdout.strip()

    changed = [line[3:] for line in git("status", "--porcelain").splitlines()
               if line[3:].startswith("litmos_pipeline/")]
    return {"git_head": git("rev-parse", "--short", "HEAD") or "unknown",
            "uncommitted_pipeline_files": changed}


ROWS: tuple[tuple[str, str], ...] = (
    ("tenant users / teams / courses / enrollments", "tenant_line"),
    ("latency added per request (ms)", "latency_ms"),
    ("sandbox limit / client pacing (req/min)", "rates"),
    ("LITMOS_DUCKDB_MEMORY_LIMIT", "duckdb_memory_limit"),
    ("run status", "run_status"),
    ("API requests (sandbox count)", "requests"),
    ("floor (this mode)", "floor"),
    ("floor roles on / off", "floors"),
    ("requests - floor", "requests_over_floor"),
    ("503s received", "rate_limited_503s"),
    ("max requests in a 60 s window", "max_requests_in_window"),
    ("wall (s, process start to exit)", "wall_s"),
    ("  of which Dagster run (s)", "run_wall_s"),
    ("  before the run starts / after it ends (s)", "launch_exit"),
    ("extract (s, the litmos_extract step)", "extract_s"),
    ("transform (s)", "transform_s"),
    ("swap (s)", "swap_s"),
    ("access_changes step (s)", "access_changes_s"),
    ("c1z write (s)", "c1z_write_s"),
    ("API: inside HTTP (s)", "api_http_s"),
    ("API: pacing/backoff waits (s)", "api_wait_s"),
    ("API: busy, wall time with a request or wait under way (s)", "api_busy_s"),
    ("local_s = wall - API busy (s)", "local_s"),
    ("run process CPU user+sys (s)", "cpu_s"),
    ("paced expectation requests/rate (s)", "paced_expectation_s"),
    ("extract / paced expectation", "extract_over_paced"),
    ("wall / paced expectation", "wall_over_paced"),
    ("rows extracted", "rows"),
    ("rows/s (end to end)", "rows_per_s"),
    ("rows/s (extract)", "extract_rows_per_s"),
    ("peak RSS of run, wait4 (MB)", "peak_rss_mb"),
    ("peak RSS of run tree, sampled (MB)", "peak_tree_rss_mb_sampled"),
    ("DuckDB main file (MB)", "duckdb_mb"),
    ("DuckDB staging file left after the run (MB)", "staging_mb"),
    ("peak disk of DuckDB files during the run (MB)", "peak_data_dir_mb"),
    ("c1z size (MB)", "c1z_mb"),
    ("grants", "grants"),
    ("c1z grants/s", "c1z_grants_per_s"),
    ("targets missed", "missed"),
)


def cell(r: dict[str, Any], key: str) -> str:
    if key == "tenant_line":
        t = r["tenant"]
        return f"{t['users']:,} / {t['teams']:,} / {t['courses']:,} / {t['enrollments']:,}"
    if key == "rates":
        return f"{r['server_rpm'] or 'off'} / {r['client_rpm'] or 'unpaced'}"
    if key == "floors":
        return f"{r['floor_roles_on']:,} / {r['floor_roles_off']:,}"
    if key == "launch_exit":
        return f"{r.get('launch_s', '-')} / {r.get('exit_s', '-')}"
    if key == "c1z_mb":
        return f"{r['c1z_bytes'] / MB:.1f}" if r.get("c1z_bytes") else "-"
    if key == "missed":
        missed = [k for k, t in r["targets"].items() if not t["ok"]]
        return ", ".join(missed) or "none"
    value = r.get(key)
    if value is None:
        return "-"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def table(results: Sequence[dict[str, Any]]) -> str:
    header = "| measure | " + " | ".join(r["label"] for r in results) + " |"
    lines = [header, "|---|" + "---:|" * len(results)]
    for title, key in ROWS:
        lines.append(f"| {title} | " + " | ".join(cell(r, key) for r in results) + " |")
    return "\n".join(lines)


def details(results: Sequence[dict[str, Any]]) -> str:
    lines = []
    for r in results:
        lines.append(f"{r['label']}:")
        if r.get("error"):
            lines.append(f"  ERROR: {r['error']}")
        if r.get("requests_off_floor_by_kind"):
            lines.append(f"  requests off the floor by kind: {r['requests_off_floor_by_kind']}")
        lines.append(f"  steps (s): {r['step_s']}")
        lines.append(f"  load average (1 min) before/after: {r.get('loadavg_1m_before_after')}")
        lines.append(f"  peak RSS by step, sampled (MB): {r['peak_rss_mb_by_step']}")
        if r.get("c1z_stage_s"):
            lines.append(f"  c1z write stages (s): {r['c1z_stage_s']}")
        lines.append(f"  run processes, sampled peak RSS (MB): {r['run_processes']}; sandbox "
                     f"peak RSS {r.get('sandbox_peak_rss_mb')} MB (not part of the run)")
        if r.get("work_dir"):
            lines.append(f"  work dir kept: {r['work_dir']}")
        if r.get("profile"):
            lines.append(f"  profile: {r['profile']}")
    return "\n".join(lines)


def json_report(results: Sequence[dict[str, Any]], info: dict[str, Any]) -> dict[str, Any]:
    """One object; with a single run its fields are also at the top level."""
    report: dict[str, Any] = {"machine": info, "runs": list(results)}
    if len(results) == 1:
        report = {**results[0], **report}
    return report


# ---------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.sync", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", choices=("small", "large", "all"), default="small")
    p.add_argument("--modes", type=lambda s: [m.strip() for m in s.split(",") if m.strip()],
                   default=None, help=f"{','.join(MODE_NAMES)} (default: unthrottled; "
                                      "--preset all alone runs the issue's matrix)")
    p.add_argument("--roles", choices=("on", "off", "both"), default=None,
                   help="LITMOS_SYNC_TEAM_ROLES (default: on)")
    p.add_argument("--modules", action="store_true",
                   help="LITMOS_SYNC_MODULES on (one more list per course; default: off)")
    p.add_argument("--latency-ms", type=float, default=None,
                   help=f"added latency per request in unthrottled mode (default {LATENCY_MS:g})")
    p.add_argument("--duckdb-memory-limit", default=None,
                   help="LITMOS_DUCKDB_MEMORY_LIMIT for the run (default: the pipeline's)")
    p.add_argument("--json", action="store_true", help="one JSON object on the last line")
    p.add_argument("--keep", action="store_true", help="keep each mode's work directory")
    p.add_argument("--work-dir", type=Path, default=DEFAULT_WORK_DIR)
    p.add_argument("--profile-dir", type=Path, default=None,
                   help="run under cProfile; .prof and a top-30 .txt per mode (timings inflate)")
    p.add_argument("--run-timeout-s", type=float, default=None,
                   help="per run (default: from the floor, latency and pacing)")
    args = p.parse_args(argv)
    for m in args.modes or ():
        if m not in MODE_NAMES:
            p.error(f"unknown mode {m!r}: expected any of {', '.join(MODE_NAMES)}")
    return args


@contextmanager
def interrupt_on_signals() -> Iterator[None]:
    # SIGINT and SIGTERM unwind like Ctrl-C, so every finally block stops what it started
    # (a shell's background job inherits SIGINT ignored; this turns it back on).
    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    modes = plan(args.preset, args.modes, args.roles, args.latency_ms, args.modules)

    def log(message: str) -> None:
        print(message, file=sys.stderr if args.json else sys.stdout, flush=True)

    if args.profile_dir:
        args.profile_dir.mkdir(parents=True, exist_ok=True)
    info = machine()
    results: list[dict[str, Any]] = []
    with interrupt_on_signals():
        try:
            for mode in modes:
                result = run_mode(mode, args.work_dir, keep=args.keep,
                                  profile_dir=args.profile_dir,
                                  timeout_override_s=args.run_timeout_s,
                                  duckdb_memory_limit=args.duckdb_memory_limit, log=log)
                results.append(result)
                log(f"[{mode.label}] {result['run_status']}: {result['requests']} requests "
                    f"(floor {result['floor']}), wall {result['wall_s']}s, "
                    f"local {result['local_s']}s, peak RSS {result['peak_rss_mb']} MB")
        except KeyboardInterrupt:
            log("interrupted: stopped the sandbox and the run")
            return 130
        except BenchError as exc:
            log(f"benchmark error: {exc}")
            return 2
    if args.json:
        print(json.dumps(json_report(results, info), default=str))
    else:
        print()
        print(f"machine: {json.dumps(info)}")
        print(table(results))
        print()
        print(details(results))
    return 0 if all("error" not in r for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
