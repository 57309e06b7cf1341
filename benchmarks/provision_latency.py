"""Approval-to-FinishTask latency of provisioning, with and without a full sync running.

    python -m benchmarks.provision_latency [--tasks 12] [--spacing-s 20] [--preset large]

Everything runs as in production, on loopback: the Litmos sandbox (the 100,000-user tenant,
100 requests a minute per key, answered with 503 beyond), the C1 sandbox, and a real
`dagster-daemon` whose c1_task_sensor (5 s interval) launches each run in its own process.
Phase 1 sends grant tasks with no sync running; phase 2 first has C1 request a full sync
(paced at 90 requests a minute, so it is still extracting for the whole phase), then sends
the same number of grant tasks. Latency = the C1 sandbox's FinishTask time minus the time
the task was enqueued (the "approval").

With `--refresh-every-min 2` (issue 16's benchmark), a full sync is published first (run
unthrottled, before the key's limit is switched on), and the daemon's refresh schedule
fires every 2 minutes: phase 2 then has the long sync, the approvals and the refreshes
drawing from the one key at once, and reports the refresh runs and the key's 503s.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from litmos_pipeline.settings import PROJECT_ROOT
from litmos_sandbox import processes
from litmos_sandbox.litmos.tenant import Tenant, TenantSpec


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def wait_finish(api: httpx.Client, task_id: str, timeout_s: float = 300.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        finishes = api.get("/_sandbox/finishes", params={"task_id": task_id}).json()["finishes"]
        accepted = [f for f in finishes if f.get("accepted")]
        if accepted:
            return accepted[0]
        time.sleep(0.1)
    raise TimeoutError(f"task {task_id} not finished within {timeout_s:.0f}s")


def grant_pairs(preset: str, count: int) -> list[tuple[str, str]]:
    """(user id, course id) pairs that are not yet enrolled, from the deterministic tenant."""
    tenant = Tenant.generate(TenantSpec.preset(preset))
    courses = tenant.courses()
    pairs: list[tuple[str, str]] = []
    for user in tenant.users(active_only=True):
        course = courses[len(pairs) % len(courses)]
        if tenant.enrollment(user.id, course.id) is None:
            pairs.append((user.id, course.id))
        if len(pairs) == count:
            return pairs
    raise RuntimeError("not enough unenrolled (user, course) pairs")


def run_breakdown(home: Path, task_id: str, sent: float,
                  finished: float) -> dict[str, float]:
    """Where the time went: sensor pickup, queue + process launch, the run itself."""
    import dagster as dg

    with dg.DagsterInstance.from_config(str(home)) as instance:
        records = instance.get_run_records(
            filters=dg.RunsFilter(tags={f"c1/task.{task_id}": "1"}), limit=1)
    if not records:
        return {}
    record = records[0]
    created = record.create_timestamp.timestamp()
    started = record.start_time or created
    return {"pickup_s": round(created - sent, 2), "launch_s": round(started - created, 2),
            "run_to_finish_s": round(finished - started, 2)}


def run_phase(api: httpx.Client, pairs: list[tuple[str, str]], spacing_s: float,
              label: str, home: Path, parts: list[dict[str, float]]) -> list[float]:
    latencies = []
    for user_id, course_id in pairs:
        sent = time.time()
        task_id = api.post("/_sandbox/tasks/grant", json={
            "entitlement_id": f"course:{course_id}:assigned",
            "principal": f"user:{user_id}"}).json()["task_id"]
        finish = wait_finish(api, task_id)
        latency = float(finish["at"]) - sent
        if finish["outcome"] != "success":
            raise RuntimeError(f"{label}: task {task_id} failed: {finish['status']}")
        latencies.append(latency)
        breakdown = run_breakdown(home, task_id, sent, float(finish["at"]))
        parts.append(breakdown)
        print(f"  {label}: task {task_id} finished in {latency:.2f}s {breakdown}", flush=True)
        time.sleep(max(0.0, spacing_s - (time.time() - sent)))
    return latencies


def summary(latencies: list[float]) -> dict[str, float]:
    return {"n": len(latencies), "median_s": round(statistics.median(latencies), 2),
            "p95_s": round(percentile(latencies, 0.95), 2),
            "max_s": round(max(latencies), 2), "min_s": round(min(latencies), 2)}


def median_parts(parts: list[dict[str, float]]) -> dict[str, float]:
    keys = {k for p in parts for k in p}
    return {k: round(statistics.median(p[k] for p in parts if k in p), 2) for k in sorted(keys)}


def seed_sync(env: dict[str, str], work: Path, litmos_api: httpx.Client) -> None:
    """A first full sync, unthrottled (a refresh needs one published), then the key's
    limit of 100 a minute for the rest; the stats start afresh."""
    print("seeding: one full sync, unthrottled", flush=True)
    argv = [sys.executable, "-m", "dagster", "job", "execute", "-m",
            "litmos_pipeline.definitions", "-j", "litmos_sync"]
    seed = processes.start("seed sync", argv, env={**env, "LITMOS_REQUESTS_PER_MINUTE":
                                                   "1000000000"},
                           ready_json=False, cwd=PROJECT_ROOT, log_path=work / "seed.log")
    code = seed.process.wait(timeout=1800)
    seed.stop()
    if code != 0:
        raise RuntimeError(f"the seeding sync failed (log: {work / 'seed.log'})")
    litmos_api.post("/_sandbox/rate-limit", json={"per_minute": 100}).raise_for_status()
    litmos_api.post("/_sandbox/reset-stats").raise_for_status()


def refresh_runs(home: Path) -> dict[str, Any]:
    """The refresh runs the schedule launched during the benchmark, by status."""
    import dagster as dg

    with dg.DagsterInstance.from_config(str(home)) as instance:
        runs = instance.get_runs(dg.RunsFilter(job_name="litmos_refresh"))
        walls = []
        for run in runs:
            stats = instance.get_run_stats(run.run_id)
            if run.status == dg.DagsterRunStatus.SUCCESS and stats.end_time:
                walls.append(round(stats.end_time - (stats.start_time or stats.end_time), 1))
        statuses: dict[str, int] = {}
        for run in runs:
            statuses[run.status.value] = statuses.get(run.status.value, 0) + 1
    return {"by_status": statuses, "wall_s": sorted(walls)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="large")
    parser.add_argument("--tasks", type=int, default=12, help="grant tasks per phase")
    parser.add_argument("--spacing-s", type=float, default=20.0,
                        help="seconds between approvals (the key's budget is shared)")
    parser.add_argument("--refresh-every-min", type=int, default=0,
                        help="publish a sync first, then refresh every N minutes (0: off)")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="provision-bench-"))
    home = work / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    pairs = grant_pairs(args.preset, 2 * args.tasks)
    children: list[processes.Child] = []
    try:
        refreshing = args.refresh_every_min > 0
        # With refreshes, the key's limit is switched on once a first sync is published.
        litmos = processes.start_litmos_sandbox("--preset", args.preset, "--rate-limit",
                                                "0" if refreshing else "100",
                                                log_path=work / "litmos.log")
        children.append(litmos)
        c1 = processes.start_c1_sandbox("--next-heartbeat", "5", "--lease-timeout", "60",
                                        log_path=work / "c1.log")
        children.append(c1)
        api = httpx.Client(base_url=c1.info["api_url"], timeout=30)
        litmos_api = httpx.Client(base_url=litmos.info["base_url"].rsplit("/v1.svc", 1)[0])
        env = {
            **os.environ, "DAGSTER_HOME": str(home),
            "LITMOS_API_KEY": litmos.info["api_key"], "LITMOS_SOURCE": "bench",
            "LITMOS_BASE_URL": litmos.info["base_url"],
            "LITMOS_DUCKDB_PATH": str(work / "litmos.duckdb"),
            "C1Z_OUTPUT_DIR": str(work / "c1z"), "C1_SENSOR_INTERVAL_S": "5",
            # Every C1 sync task is a full sync; refreshes only with --refresh-every-min.
            "LITMOS_SNAPSHOT_MAX_AGE_S": "0",
            "LITMOS_REFRESH_CRON": (f"*/{args.refresh_every_min} * * * *" if refreshing
                                    else "0 0 1 1 *"),
            "C1_CLIENT_ID": c1.info["client_id"], "C1_CLIENT_SECRET": c1.info["client_secret"],
            "C1_API_URL": c1.info["api_url"], "C1_GRPC_TARGET": c1.info["grpc_target"],
        }
        if refreshing:
            seed_sync(env, work, litmos_api)
        daemon = processes.start(
            "dagster-daemon", [str(Path(sys.executable).parent / "dagster-daemon"), "run",
                               "-m", "litmos_pipeline.definitions"],
            env=env, ready_json=False, cwd=PROJECT_ROOT, log_path=work / "daemon.log")
        children.append(daemon)

        print(f"phase 1: {args.tasks} grant tasks, no sync running", flush=True)
        idle_parts: list[dict[str, float]] = []
        idle = run_phase(api, pairs[:args.tasks], args.spacing_s, "idle", home, idle_parts)

        print("phase 2: C1 requests a full sync of the tenant; grant tasks meanwhile",
              flush=True)
        sync_task = api.post("/_sandbox/tasks/sync_full").json()["task_id"]
        before = litmos_api.get("/_sandbox/stats").json()["total_requests"]
        deadline = time.monotonic() + 120
        while litmos_api.get("/_sandbox/stats").json()["total_requests"] < before + 20:
            if time.monotonic() > deadline:
                raise TimeoutError("the sync did not start reading Litmos")
            time.sleep(1)
        busy_parts: list[dict[str, float]] = []
        busy = run_phase(api, pairs[args.tasks:], args.spacing_s, "during sync", home,
                         busy_parts)
        stats = litmos_api.get("/_sandbox/stats").json()
        sync_state = api.get(f"/_sandbox/tasks/{sync_task}").json()["state"]
        refreshes = refresh_runs(home) if refreshing else {}
        result = {
            "preset": args.preset, "sensor_interval_s": 5, "spacing_s": args.spacing_s,
            "idle": summary(idle), "during_sync": summary(busy),
            "idle_median_parts": median_parts(idle_parts),
            "during_sync_median_parts": median_parts(busy_parts),
            "sync_task_state_at_end": sync_state,
            "litmos_requests": stats["total_requests"],
            "rate_limited_503s": stats["rate_limited_503s"],
            "max_requests_in_60s": stats.get("max_requests_in_window"),
            **({"refresh_every_min": args.refresh_every_min, "refresh_runs": refreshes}
               if refreshing else {}),
        }
        print(json.dumps(result))
        return 0
    finally:
        for child in reversed(children):
            child.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
