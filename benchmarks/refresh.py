"""Benchmark a delta refresh against the full sync it spares (issue 16's figures).

    python -m benchmarks.refresh --preset large --json

On the sandbox (a child process on 127.0.0.1): a full sync (unthrottled, team roles off),
then the tenant changes: 1% of its users (deactivated) and 0.5% of its enrollments
(assigned, unassigned, completed). A refresh of that state runs twice from the same
warehouse copy: unthrottled (its local time and peak memory), then at the real rate
(100 requests a minute on the sandbox, 90 for the client: its requests and wall time).
A third refresh follows 15 minutes' worth of the same daily change rate: the steady
state of a 15-minute schedule (read with no overlap, as the first change set is only
minutes older). Each run is `dagster job execute -j litmos_refresh` in a
process of its own; the figures are the sandbox's request counts, the run's wall time,
and the run tree's peak RSS (os.wait4 and psutil, as in benchmarks/sync.py).
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from benchmarks.sync import (
    DAGSTER_YAML,
    DEFAULT_WORK_DIR,
    HTTP_TIMEOUT_S,
    MB,
    REAL_CLIENT_RPM,
    REAL_SERVER_RPM,
    SANDBOX_READY_TIMEOUT_S,
    STOP_TIMEOUT_S,
    control_url,
    execute_run,
    loopback_only,
    machine,
    make_mode,
    read_run_facts,
    reset_sandbox_stats,
    run_env,
    run_failure,
    sandbox_args,
    sandbox_stats,
    source_version,
)
from litmos_sandbox import processes

PAGE = 1000  # delta queries page at 1000 at most (litmos-api.md)
DELTA_LISTS = 6  # users, teams, courses, team users, user courses, results


def job_argv(job: str) -> list[str]:
    return [sys.executable, "-m", "dagster", "job", "execute", "-m",
            "litmos_pipeline.definitions", "-j", job]


def changes(users: int, enrollments: int, share_users: float,
            share_enrollments: float) -> dict[str, int]:
    """The mutation counts for a share of users and of enrollments changed."""
    n_users = max(1, round(users * share_users))
    n_enrollments = max(3, round(enrollments * share_enrollments))
    assign = round(n_enrollments * 0.4)
    unassign = round(n_enrollments * 0.3)
    return {"deactivate_users": n_users, "assign_courses": assign,
            "unassign_courses": unassign,
            "complete_courses": n_enrollments - assign - unassign}


def expected_requests(counts: dict[str, int]) -> int:
    """The cost formula: each delta list costs floor(records / 1000) + 1 pages.

    Users changed -> /org/users/details; assignments and unassignments -> both
    /org/users/courses and /org/results/details (an assignment starts a result);
    completions -> /org/results/details; teams, courses, team users: one page each.
    """
    users = counts.get("deactivate_users", 0)
    assignments = counts.get("assign_courses", 0) + counts.get("unassign_courses", 0)
    results = counts.get("assign_courses", 0) + counts.get("complete_courses", 0)
    records = [users, 0, 0, 0, assignments, results]
    return sum(n // PAGE + 1 for n in records)


class Bench:
    def __init__(self, preset: str, work: Path, log: Any) -> None:
        self.preset, self.work, self.log = preset, work, log
        self.mode = make_mode("unthrottled", preset, roles=False)
        self.home, self.data, self.c1z = work / "dagster_home", work / "data", work / "c1z"
        for d in (self.home, self.data, self.c1z):
            d.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(DAGSTER_YAML, self.home / "dagster.yaml")

    def env(self, base_url: str, api_key: str, rpm: float | None = None) -> dict[str, str]:
        env = run_env(self.mode, base_url, api_key, self.home, self.data, self.c1z)
        env.update({"LITMOS_SNAPSHOT_MAX_AGE_S": "0", "LITMOS_REFRESH_CRON": "0 0 1 1 *",
                    # The figures are the refresh's; the guard has its own tests.
                    "LITMOS_GUARD_MAX_GRANT_REMOVAL": "1", "LITMOS_GUARD_MAX_USER_REMOVAL": "1"})
        if rpm is not None:
            env["LITMOS_REQUESTS_PER_MINUTE"] = f"{rpm:g}"
        return env

    def run(self, job: str, env: dict[str, str], name: str, base_url: str) -> dict[str, Any]:
        reset_sandbox_stats(base_url)
        outcome = execute_run(job_argv(job), env, self.work / f"{name}.log", 3600, self.data)
        stats = sandbox_stats(base_url)
        facts = read_run_facts(self.home)
        result: dict[str, Any] = {
            "run": name, "status": facts.status, "wall_s": round(outcome.wall_s, 1),
            "requests": stats["total_requests"],
            "rate_limited_503s": stats["rate_limited_503s"],
            "max_requests_in_window": stats["max_requests_in_window"],
            "peak_rss_mb_wait4": round(outcome.rusage.ru_maxrss / 1024, 1),
            "peak_tree_rss_mb": round(outcome.sampler.peak_tree_rss / MB, 1),
        }
        if job == "litmos_refresh":
            meta = facts.metadata.get("c1_grants", {})
            result.update({"grants": meta.get("rows"), "grants_added": meta.get("grants_added"),
                           "grants_removed": meta.get("grants_removed")})
            result["steps_s"] = {k: facts.step_s(k) for k in facts.steps}
            records = delta_records(self.home)
            result["records_per_delta_query"] = records
            # The cost formula over what Litmos answered: floor(n / 1000) + 1 pages each.
            result["formula_requests"] = sum(n // PAGE + 1 for n in records.values())
        if facts.status != "SUCCESS" or outcome.exit_code != 0:
            result["error"] = run_failure(self.work / f"{name}.log")
        self.log(f"  {name}: {json.dumps(result)}")
        return result

    def keep(self, name: str) -> None:
        shutil.copytree(self.data, self.work / f"{name}-data", dirs_exist_ok=True)
        shutil.copytree(self.home, self.work / f"{name}-home", dirs_exist_ok=True)

    def restore(self, name: str) -> None:
        for src, dst in ((self.work / f"{name}-data", self.data),
                         (self.work / f"{name}-home", self.home)):
            shutil.rmtree(dst)
            shutil.copytree(src, dst)


def delta_records(home: Path) -> dict[str, int]:
    """Records each delta query answered, from litmos_delta's latest materialization."""
    import dagster as dg

    with dg.DagsterInstance.from_config(str(home)) as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey("litmos_delta"))
    meta = event.asset_materialization.metadata if event and event.asset_materialization else {}
    return {k.removesuffix("_records"): int(v.value) for k, v in meta.items()
            if k.endswith("_records")}


def post(base_url: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(f"{control_url(base_url)}/{name}", json=body, timeout=600)
    response.raise_for_status()
    return dict(response.json())


def bench(preset: str, work_root: Path, log: Any) -> dict[str, Any]:
    work = work_root / f"{datetime.now():%Y%m%d-%H%M%S}-refresh-{preset}"
    b = Bench(preset, work, log)
    sandbox = processes.start(
        "litmos sandbox", processes.python_module("litmos_sandbox", "litmos", "--port", "0",
                                                  *sandbox_args(b.mode)),
        log_path=work / "sandbox.log", timeout_s=SANDBOX_READY_TIMEOUT_S)
    try:
        url, key = loopback_only(sandbox.info["base_url"]), sandbox.info["api_key"]
        tenant = httpx.get(f"{control_url(url)}/tenant", timeout=HTTP_TIMEOUT_S).json()
        log(f"[{preset}] full sync of {tenant['users']} users, {tenant['enrollments']} "
            "enrollments (unthrottled, roles off)")
        out: dict[str, Any] = {"preset": preset, "tenant": tenant}
        out["full_sync"] = b.run("litmos_sync", b.env(url, key), "sync", url)
        daily = changes(tenant["users"], tenant["enrollments"], 0.01, 0.005)
        done = post(url, "mutate", {"seed": 16, **daily})["counts"]
        out["changes"] = done
        out["expected_requests"] = expected_requests(done)
        b.keep("synced")
        log(f"[{preset}] refresh after {done} (unthrottled)")
        out["refresh_local"] = b.run("litmos_refresh", b.env(url, key), "refresh-local", url)
        b.restore("synced")
        post(url, "rate-limit", {"per_minute": REAL_SERVER_RPM})
        log(f"[{preset}] the same refresh at the real rate ({REAL_CLIENT_RPM}/min)")
        out["refresh_real_rate"] = b.run("litmos_refresh", b.env(url, key, REAL_CLIENT_RPM),
                                         "refresh-real", url)
        # 15 minutes of the same daily change rate: the steady state of the schedule.
        quarter = {k: max(1, math.ceil(v / 96)) for k, v in daily.items()}
        out["steady_changes"] = post(url, "mutate", {"seed": 17, **quarter})["counts"]
        out["steady_expected_requests"] = expected_requests(out["steady_changes"])
        log(f"[{preset}] a 15-minute refresh after {out['steady_changes']} (real rate)")
        # Overlap 0 here: both change sets fall within minutes, so the default 10-minute
        # overlap would read the first one again; on a 15-minute schedule it reads the
        # 10 minutes before the window instead (see BENCHMARKS.md).
        steady_env = {**b.env(url, key, REAL_CLIENT_RPM), "LITMOS_REFRESH_OVERLAP_S": "0"}
        out["refresh_steady"] = b.run("litmos_refresh", steady_env, "refresh-steady", url)
        out["machine"], out["source"] = machine(), source_version()
        return out
    finally:
        sandbox.stop(STOP_TIMEOUT_S)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.refresh",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="large")
    parser.add_argument("--work-dir", type=Path, default=DEFAULT_WORK_DIR)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    result = bench(args.preset, args.work_dir, lambda m: print(m, file=sys.stderr, flush=True))
    print(json.dumps(result, indent=2) if args.json else json.dumps(result))
    return 0 if all("error" not in v for v in result.values() if isinstance(v, dict)) else 1


if __name__ == "__main__":
    sys.exit(main())
