"""`litmos-pipeline sync`: one run of a job through Dagster, followed with a progress bar.

The run is Dagster's own: `dagster job execute` in a child process against the instance
in DAGSTER_HOME, so it shows in the UI with its logs, and the sync's pools and hooks
apply as for any launch. A tag with a fresh id finds the run; its event log then feeds
the progress bar (`follow.RunFollower`). Another job (the refresh) is one more command
calling `run_job`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import click
from rich.markup import escape

from litmos_pipeline.cli.common import (
    EXIT_CODES,
    FAILED,
    OK,
    console,
    dagster_home,
    instance,
    last_line,
    load,
    quiet_env,
    shown_path,
    stopped_by_signals,
)
from litmos_pipeline.cli.follow import RunFollower, duration
from litmos_pipeline.cli.progress_view import ProgressView

MODULE = "litmos_pipeline.definitions"
LAUNCH_TAG = "litmos/launch_id"  # finds the run this command launched
ACCEPT_TAG = "litmos/accept_mass_removal"  # defs.sync.ACCEPT_MASS_REMOVAL_TAG (a test holds it)
POLL_S = 0.5
END_GRACE_S = 15.0  # after the child exits, how long its run may take to show as ended
STOP_WAIT_S = 60.0  # Ctrl-C: how long the run gets to stop
LOG_DIR = "cli-logs"  # in DAGSTER_HOME: what `dagster job execute` printed


@click.command(epilog=EXIT_CODES)
@click.option("--accept-mass-removal", is_flag=True,
              help="Publish this sync even if it removes more access than the "
                   "mass-revocation guard allows (this run only; sets the run tag "
                   f"{ACCEPT_TAG}=true).")
def sync(accept_mass_removal: bool) -> None:
    """Run the full sync (the litmos_sync job) once, with a live progress bar.

    The run goes through the Dagster instance in DAGSTER_HOME, so it shows in the UI.
    The bar counts Litmos requests read against the floor (the fewest requests the lists
    seen so far take: floor(n/1000)+1 each; it grows as lists are found), with the rows,
    the pace over the last minute and the time left at that pace. Exit 0 when the sync
    was published, 1 when the run failed or was held by the mass-revocation guard, 2 on
    a configuration error.
    """
    tags = {ACCEPT_TAG: "true"} if accept_mass_removal else {}
    raise SystemExit(run_job("litmos_sync", tags))


@click.command(epilog=EXIT_CODES)
@click.option("--accept-mass-removal", is_flag=True,
              help="Publish this refresh even if it removes more access than the "
                   "mass-revocation guard allows (this run only).")
def refresh(accept_mass_removal: bool) -> None:
    """Run the delta refresh (the litmos_refresh job) once: Litmos' changes since the
    current snapshot, applied and published like a sync (see the README's "Fresh between
    full syncs"). Needs a published full sync; refuses when the last one is older than
    Litmos' 7-day delta window. Exit 0 when published, 1 when the run failed or was held,
    2 on a configuration error.
    """
    tags = {ACCEPT_TAG: "true"} if accept_mass_removal else {}
    raise SystemExit(run_job("litmos_refresh", tags))


def run_job(job: str, tags: dict[str, str] | None = None,
            env: dict[str, str] | None = None) -> int:
    """Launch `job` through Dagster, follow it to its end, report; the exit code."""
    env = dict(os.environ if env is None else env)
    _check_settings(env)
    home = dagster_home(env)
    launch_id = uuid.uuid4().hex
    out = console()
    # Beside the instance's own storage; kept only when the run did not succeed.
    logs = home / LOG_DIR
    logs.mkdir(mode=0o700, exist_ok=True)
    with tempfile.NamedTemporaryFile(prefix=f"{job}-", suffix=".log", dir=logs,
                                     delete=False) as log:
        log_path = Path(log.name)
        argv = [str(Path(sys.executable).parent / "dagster"), "job", "execute", "-m", MODULE,
                "-j", job, "--tags", json.dumps({**(tags or {}), LAUNCH_TAG: launch_id})]
        # A session of its own: Ctrl-C reaches this process only, which asks the run to
        # stop once (a second SIGINT would cut Dagster's own clean-up short).
        child = subprocess.Popen(argv, env=quiet_env({**env, "DAGSTER_HOME": str(home)}),
                                 stdin=subprocess.DEVNULL, stdout=log,
                                 stderr=subprocess.STDOUT, start_new_session=True)
    follower = RunFollower()
    interrupted = False
    with stopped_by_signals(), instance(home) as dagster, ProgressView(out, job) as view:
        try:
            _follow(dagster, child, launch_id, follower, view)
        except KeyboardInterrupt:
            interrupted = True
            view.note("interrupted: asking the run to stop")
            child.send_signal(signal.SIGINT)
            try:
                child.wait(STOP_WAIT_S)
            except subprocess.TimeoutExpired:
                child.kill()
            _follow(dagster, child, launch_id, follower, view)  # what the run said last
        status = _run_status(dagster, follower.run_id)
    if interrupted and follower.run_id:
        # Stopped inside a step, the run's failure hook may not have removed its staging
        # file (personal data); the failure sensor would, but only where the daemon runs.
        _discard_staging(env, follower.run_id)
    code = _report(out, job, follower.run_id, status, follower, log_path, interrupted)
    child.wait()
    return code


def _check_settings(env: dict[str, str]) -> None:
    """What every run needs, validated before anything starts (exit 2 names the setting)."""
    from litmos_pipeline import settings as cfg
    from litmos_pipeline.defs.resources import credentials_problem

    for model in cfg.GROUPS:
        if model is not cfg.C1Settings:
            load(model, env)
    problem = credentials_problem(env.get("C1_CLIENT_ID", ""), env.get("C1_CLIENT_SECRET", ""),
                                  env.get("C1_API_URL", ""))
    if problem:
        console(stderr=True).print(f"[yellow]warning:[/yellow] {escape(problem)}; C1 tasks "
                                   "cannot be served (the sync still writes its c1z)")


def _follow(dagster: Any, child: subprocess.Popen[bytes], launch_id: str,
            follower: RunFollower, view: ProgressView) -> None:
    """Read the run's events as they come, until the launch has exited and the run ended."""
    ended_at = None
    while True:
        exited = child.poll() is not None
        if follower.run_id is None:
            follower.run_id = _find_run(dagster, launch_id)
            if follower.run_id is not None:
                view.started(follower.run_id)
        more = False
        if follower.run_id is not None:
            connection = dagster.get_records_for_run(follower.run_id, cursor=follower.cursor,
                                                     limit=1000)
            for record in connection.records:
                follower.take(record.event_log_entry)
            follower.cursor, more = connection.cursor, connection.has_more
            view.show(follower)
        if exited and not more:
            ended_at = ended_at or time.monotonic()
            if (follower.run_id is None or follower.status
                    or time.monotonic() - ended_at > END_GRACE_S):
                return
        if not more:
            time.sleep(POLL_S)


def _find_run(dagster: Any, launch_id: str) -> str | None:
    import dagster as dg

    runs = dagster.get_runs(filters=dg.RunsFilter(tags={LAUNCH_TAG: launch_id}), limit=1)
    return runs[0].run_id if runs else None


def _run_status(dagster: Any, run_id: str | None) -> str:
    run = dagster.get_run_by_id(run_id) if run_id else None
    return run.status.value if run is not None else "NOT CREATED"


def _discard_staging(env: dict[str, str], run_id: str) -> None:
    from litmos_pipeline import settings as cfg

    for path in load(cfg.WarehouseSettings, env).staging_dir.glob(f"{run_id}.duckdb*"):
        path.unlink(missing_ok=True)


def _report(out: Any, job: str, run_id: str | None, status: str, follower: RunFollower,
            log_path: Path, interrupted: bool) -> int:
    if status == "SUCCESS" and not interrupted:
        log_path.unlink(missing_ok=True)
        out.print(f"[green]{job} succeeded[/green] (run {run_id}): {escape(_summary(follower))}")
        return OK
    if interrupted:
        reasons = [f"interrupted; the run ended with status {status}"]
    else:
        reasons = follower.failures or [
            last_line(log_path) if run_id is None else f"the run ended with status {status}"]
    for reason in dict.fromkeys(reasons):
        out.print(f"[bold red]{job} failed[/bold red]: {escape(reason)}")
    if follower.held:
        command = "refresh" if job == "litmos_refresh" else "sync"
        out.print(f"If the removal is real, publish it with: litmos-pipeline {command} "
                  "--accept-mass-removal")
    where = f"run {run_id} (Dagster UI, Runs)" if run_id else "no run was created"
    out.print(f"{where}; the launch's output: {shown_path(log_path)}")
    return FAILED


def _summary(follower: RunFollower) -> str:
    users = follower.metadata.get("litmos_users", {})
    delta = follower.metadata.get("litmos_delta", {})
    grants = follower.metadata.get("c1_grants", {})
    c1z = follower.metadata.get("c1_sync_file", {})
    parts = []
    if delta.get("requests") is not None:
        parts.append(f"{delta.get('requests')} requests for the changes from "
                     f"{delta.get('window_since')} UTC")
    if users:
        parts.append(f"{users.get('extract_api_requests')} requests in "
                     f"{duration(users.get('extract_elapsed_s'))}, {users.get('rows')} users")
    if grants:
        parts.append(f"{grants.get('rows')} grants (+{grants.get('grants_added')} / "
                     f"-{grants.get('grants_removed')}), sync {grants.get('sync_id')}")
    if c1z.get("path"):
        parts.append(f"c1z {shown_path(Path(str(c1z['path'])))}")
    return "; ".join(parts) or "done"

