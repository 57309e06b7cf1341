"""`make demo`: the whole pipeline on the embedded sandboxes, through a real Dagster instance.

1. starts the Litmos sandbox (a generated tenant) and the C1 sandbox on loopback;
2. runs the full sync headless (`litmos-pipeline sync`: `dagster job execute`, followed),
   which also writes the c1z;
3. starts the Dagster daemon, enqueues a C1 sync_full task and waits until the task sensor
   has run it and C1 has received the upload;
4. plays access requests (a new account, a course for it) and an account action
   (disable_user on that account), each provisioned into Litmos;
5. prints what happened and stops everything.

An expected failure (an unknown preset, a sandbox that does not start, a failed sync, a
wait that times out) raises DemoError with the reason; the preset is checked before the
previous demo's files are removed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import httpx

from litmos_pipeline.cli.common import quiet_env, shown_path
from litmos_pipeline.cli.run import run_job
from litmos_pipeline.settings import PROJECT_ROOT
from litmos_sandbox import processes
from litmos_sandbox.litmos.tenant import TenantSpec
from litmos_sandbox.processes import Child

DEMO_DIR = PROJECT_ROOT / "data" / "demo"
DAGSTER_HOME = PROJECT_ROOT / "dagster_home"
MODULE = "litmos_pipeline.definitions"
# The sandbox allows 6000 requests a minute (the real API: 100); we pace at 90% of it.
SANDBOX_RATE = 6000


class DemoError(RuntimeError):
    """An expected failure of the demo, the sandbox or the UI, with its reason."""


def check_preset(preset: str) -> None:
    """ValueError naming the known presets, for an unknown one."""
    TenantSpec.preset(preset)


def sandbox_settings(litmos: Child, c1: Child | None, workdir: Path) -> dict[str, str]:
    """The pipeline's settings against the sandboxes, its files under `workdir`."""
    settings = {
        "DAGSTER_HOME": str(DAGSTER_HOME),
        "LITMOS_API_KEY": litmos.info["api_key"],
        "LITMOS_SOURCE": "litmos-pipeline-demo",
        "LITMOS_BASE_URL": litmos.info["base_url"],
        "LITMOS_REQUESTS_PER_MINUTE": str(int(SANDBOX_RATE * 0.9)),
        "LITMOS_PROVISION_REQUESTS_PER_MINUTE": str(int(SANDBOX_RATE * 0.1)),
        "LITMOS_DUCKDB_PATH": str(workdir / "litmos.duckdb"),
        "C1Z_OUTPUT_DIR": str(workdir / "c1z"),
        "C1_SENSOR_INTERVAL_S": "2",
    }
    if c1 is not None:
        settings.update({
            "C1_CLIENT_ID": c1.info["client_id"], "C1_CLIENT_SECRET": c1.info["client_secret"],
            "C1_API_URL": c1.info["api_url"], "C1_GRPC_TARGET": c1.info["grpc_target"],
        })
    return settings


def sandbox_env(litmos: Child, c1: Child | None, workdir: Path) -> dict[str, str]:
    """This process's environment with the sandbox settings, Dagster's notices silenced."""
    return quiet_env({**os.environ, **sandbox_settings(litmos, c1, workdir)})


def start_sandboxes(workdir: Path, preset: str = "small") -> tuple[Child, Child]:
    logs = workdir / "logs"
    try:
        litmos = processes.start_litmos_sandbox("--preset", preset, "--rate-limit",
                                                str(SANDBOX_RATE), log_path=logs / "litmos.log")
    except (RuntimeError, TimeoutError) as exc:
        raise DemoError(str(exc)) from None
    try:
        c1 = processes.start_c1_sandbox("--next-heartbeat", "5", "--next-poll", "1",
                                        "--data-dir", str(workdir / "c1-sandbox"),
                                        log_path=logs / "c1.log")
    except (RuntimeError, TimeoutError) as exc:
        litmos.stop()
        raise DemoError(str(exc)) from None
    return litmos, c1


def _say(text: str) -> None:
    print(f"\n== {text}", flush=True)


def _wait(what: str, check: Callable[[], Any], timeout_s: float = 240.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.5)
    raise DemoError(f"timed out after {timeout_s:.0f}s waiting for {what} (the daemon's log: "
                    f"{shown_path(DEMO_DIR / 'logs' / 'daemon.log')})")


def _finish_of(api: httpx.Client, task_id: str) -> dict[str, Any] | None:
    finishes = api.get("/_sandbox/finishes", params={"task_id": task_id}).json()
    items = finishes.get("finishes", finishes) if isinstance(finishes, dict) else finishes
    return items[0] if items else None


def _query(db: Path, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    # Opened only while no run is writing, and closed at once (one writer per file).
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def run_demo(preset: str = "small") -> int:
    started = time.monotonic()
    try:
        check_preset(preset)  # before the previous demo's files go
    except ValueError as exc:
        raise DemoError(str(exc)) from None
    shutil.rmtree(DEMO_DIR, ignore_errors=True)
    DEMO_DIR.mkdir(parents=True)
    _say(f"starting the Litmos sandbox ({preset} tenant) and the C1 sandbox on 127.0.0.1")
    litmos, c1 = start_sandboxes(DEMO_DIR, preset)
    daemon: Child | None = None
    try:
        env = sandbox_env(litmos, c1, DEMO_DIR)
        litmos_api = httpx.Client(base_url=litmos.info["base_url"].rsplit("/v1.svc", 1)[0])
        c1_api = httpx.Client(base_url=c1.info["api_url"])

        _say("1. the full sync, headless: litmos-pipeline sync")
        sync_started = time.monotonic()
        # The command line's own sync: `dagster job execute`, followed in the event log.
        if run_job("litmos_sync", env=env) != 0:
            raise DemoError("the demo's sync failed (the reason is above)")
        sync_s = time.monotonic() - sync_started
        stats = litmos_api.get("/_sandbox/stats").json()
        db = DEMO_DIR / "litmos.duckdb"
        counts = {t: _query(db, f"SELECT count(*) FROM {t}")[0][0] for t in (
            "litmos_users", "litmos_teams", "litmos_courses", "litmos_team_members",
            "litmos_course_enrollments", "c1_resources", "c1_entitlements", "c1_grants")}
        for table, n in counts.items():
            print(f"   {table:28} {n:>9,}")
        print(f"   Litmos API requests: {stats.get('total_requests')}, "
              f"503s: {stats.get('rate_limited_503s')}, sync time {sync_s:.1f}s")
        print(f"   c1z files: {sorted(p.name for p in (DEMO_DIR / 'c1z').glob('*.c1z'))}")

        _say("2. C1 asks for a full sync: the daemon's c1_task_sensor picks it up")
        daemon = processes.start(
            "dagster-daemon", [str(Path(sys.executable).parent / "dagster-daemon"), "run",
                               "-m", MODULE],
            env=env, ready_json=False, log_path=DEMO_DIR / "logs" / "daemon.log")
        task_id = c1_api.post("/_sandbox/tasks/sync_full").json()["task_id"]
        print(f"   enqueued sync_full task {task_id}")
        finish = _wait(f"C1 to receive FinishTask for {task_id}",
                       lambda: _finish_of(c1_api, task_id))
        uploads = c1_api.get("/_sandbox/uploads", params={"task_id": task_id}).json()
        print(f"   FinishTask: {_outcome(finish)}")
        for upload in (uploads.get("uploads", uploads) if isinstance(uploads, dict)
                       else uploads):
            print(f"   C1 received {upload.get('size')} bytes, sha256 "
                  f"{str(upload.get('sha256'))[:16]}…, rows {upload.get('row_counts') or ''}")

        _say("3. access requests approved in C1: a new account, then a course for it")
        task_id = c1_api.post("/_sandbox/tasks/create_account", json={
            "login": "new.hire", "email": "new.hire@example.com", "given_name": "Nora",
            "family_name": "Hire"}).json()["task_id"]
        print(f"   enqueued create_account task {task_id} for new.hire")
        finish = _wait(f"FinishTask for {task_id}", lambda: _finish_of(c1_api, task_id))
        print(f"   FinishTask: {_outcome(finish)}")
        found = httpx.get(f"{litmos.info['base_url']}/users",
                          params={"source": "demo", "format": "json", "search": "new.hire"},
                          headers={"apikey": litmos.info["api_key"]}).json()
        user_id = next(u["Id"] for u in found if u["UserName"] == "new.hire")
        print(f"   Litmos now has user new.hire with Id {user_id}")
        course_id = _query(db, "SELECT id FROM litmos_courses ORDER BY id LIMIT 1")[0][0]
        entitlement = f"course:{course_id}:assigned"
        task_id = c1_api.post("/_sandbox/tasks/grant", json={
            "entitlement_id": entitlement, "principal": f"user:{user_id}"}).json()["task_id"]
        print(f"   enqueued grant task {task_id}: {entitlement} to user {user_id}")
        requested = time.monotonic()
        finish = _wait(f"FinishTask for {task_id}", lambda: _finish_of(c1_api, task_id))
        latency = time.monotonic() - requested
        print(f"   FinishTask after {latency:.1f}s: {_outcome(finish)}")
        litmos_check = httpx.get(
            f"{litmos.info['base_url']}/users/{user_id}/courses/{course_id}",
            params={"source": "demo", "format": "json"},
            headers={"apikey": litmos.info["api_key"]})
        print(f"   Litmos GET /users/{user_id}/courses/{course_id}: HTTP "
              f"{litmos_check.status_code}")
        _play_disable(c1_api, litmos.info, user_id)
        _play_targeted(c1_api, course_id)
        daemon.stop()
        daemon = None
        rows = _query(db, "SELECT grant_id FROM c1_grants WHERE principal_id = ? AND "
                          "resource_id = ?", [user_id, course_id])
        print(f"   grants in DuckDB now: {[r[0] for r in rows]}")
        audit = _query(db, "SELECT outcome, litmos_calls FROM provisioning_audit "
                           "ORDER BY finished_at DESC LIMIT 1")
        print(f"   audit: {audit[0] if audit else 'none'}")
        _say(f"done in {time.monotonic() - started:.1f}s")
        cli = shown_path(Path(sys.executable).parent / "litmos-pipeline")
        files = {"LITMOS_DUCKDB_PATH": shown_path(db), "C1Z_OUTPUT_DIR": shown_path(
            DEMO_DIR / "c1z"), "DAGSTER_HOME": shown_path(DAGSTER_HOME)}
        print(f"   its c1z:    {cli} inspect {shown_path(DEMO_DIR / 'c1z' / 'latest.c1z')}")
        print(f"   its status: {' '.join(f'{k}={v}' for k, v in files.items())} {cli} status")
        print("   the UI on fresh sandboxes: make ui")
        return 0
    finally:
        if daemon is not None:
            daemon.stop()
        c1.stop()
        litmos.stop()


def _play_disable(c1_api: httpx.Client, litmos: dict[str, Any], user_id: str) -> None:
    """C1 disables the new account: a resource action, served like a grant."""
    _say("4. an account action from C1: disable_user on the new account")
    task_id = c1_api.post("/_sandbox/tasks/action_invoke", json={
        "name": "disable_user", "user_id": user_id}).json()["task_id"]
    print(f"   enqueued action_invoke task {task_id}: disable_user {user_id}")
    finish = _wait(f"FinishTask for {task_id}", lambda: _finish_of(c1_api, task_id))
    print(f"   FinishTask: {_outcome(finish)}")
    user = httpx.get(f"{litmos['base_url']}/users/{user_id}",
                     params={"source": "demo", "format": "json"},
                     headers={"apikey": litmos["api_key"]}).json()
    print(f"   Litmos GET /users/{user_id}: Active={user.get('Active')}")


def _play_targeted(c1_api: httpx.Client, course_id: str) -> None:
    """C1 asks for that course again: a targeted sync, answered with a partial c1z."""
    _say(f"5. C1 asks for course {course_id} again: a targeted (partial) sync")
    task_id = c1_api.post("/_sandbox/tasks/sync_full",
                          json={"targets": [f"course:{course_id}"]}).json()["task_id"]
    print(f"   enqueued sync_full task {task_id} naming course:{course_id}")
    finish = _wait(f"FinishTask for {task_id}", lambda: _finish_of(c1_api, task_id))
    print(f"   FinishTask: {_outcome(finish)}")
    uploads = c1_api.get("/_sandbox/uploads", params={"task_id": task_id}).json()
    for upload in (uploads.get("uploads", uploads) if isinstance(uploads, dict) else uploads):
        print(f"   C1 received a partial c1z of {upload.get('size')} bytes (the course, "
              f"its entitlements and grants): rows {upload.get('row_counts') or ''}")


def _outcome(finish: dict[str, Any]) -> str:
    text = f"{finish.get('outcome')}"
    status = finish.get("status") or {}
    if status.get("message"):
        text += f" ({status['message']})"
    response = finish.get("response") or {}
    if response.get("@type"):
        text += f", response {response['@type'].rsplit('/', 1)[-1]}"
    return text


def run_ui(preset: str = "small") -> int:
    """The Dagster UI (webserver + daemon) against the sandboxes, until Ctrl-C."""
    try:
        check_preset(preset)
    except ValueError as exc:
        raise DemoError(str(exc)) from None
    workdir = PROJECT_ROOT / "data" / "ui"
    workdir.mkdir(parents=True, exist_ok=True)
    litmos, c1 = start_sandboxes(workdir, preset)
    env = sandbox_env(litmos, c1, workdir)
    print(f"Litmos sandbox: {litmos.info['base_url']}  C1 sandbox: {c1.info['api_url']}")
    # This interpreter (the venv's), so the hint runs as printed.
    print(f"enqueue a C1 task: {shown_path(Path(sys.executable))} -m litmos_sandbox c1 "
          f"enqueue-sync --api-url {c1.info['api_url']}")
    try:
        # `dg dev`: the same webserver and daemon as `dagster dev`, which now prints a
        # SupersessionWarning pointing at it.
        return subprocess.call([str(Path(sys.executable).parent / "dg"), "dev", "-w",
                                "workspace.yaml"], env=env, cwd=PROJECT_ROOT)
    except KeyboardInterrupt:
        return 0
    finally:
        c1.stop()
        litmos.stop()
