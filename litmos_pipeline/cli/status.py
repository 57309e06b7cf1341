"""`litmos-pipeline status`: the last sync and refresh, the snapshot's age, C1 tasks, holds.

The warehouse (LITMOS_DUCKDB_PATH) is opened read-only; the Dagster instance
(DAGSTER_HOME) is read for runs, C1 tasks and the mass-revocation guard's holds.
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape

from litmos_pipeline.cli.common import (
    CONFIG,
    EXIT_CODES,
    FAILED,
    OK,
    ConfigError,
    console,
    dagster_home,
    instance,
    load,
    shown_path,
)
from litmos_pipeline.cli.follow import duration

LOCK_WAIT_S = 10.0  # a swap holds the main file for seconds


@dataclass(frozen=True)
class LastSync:
    sync_id: str
    run_id: str
    finished_at: float
    users: int
    grants: int
    added: int
    removed: int
    syncs: int  # syncs recorded
    provisioned: dict[str, int]  # grants added / removed by provisioning since
    audit_failed: int  # provisioning tasks that failed in the last day (the audit trail)


@click.command(epilog=EXIT_CODES)
def status() -> None:
    """The last sync and refresh, the snapshot's age, C1 tasks and guard holds.

    Exit 0 when all is well, 1 when something needs attention (the newest sync failed, a
    sync is held by the mass-revocation guard, C1 tasks failed), 2 when there is no sync
    to report on yet (or a setting is invalid).
    """
    from litmos_pipeline import settings as cfg

    out = console()
    warehouse = load(cfg.WarehouseSettings)
    publish = load(cfg.PublishSettings)
    last = _last_sync(warehouse.duckdb_path)
    try:
        home: Path | None = dagster_home()
    except ConfigError as exc:
        home, unread = None, exc.message
    with ExitStack() as stack:
        dagster = stack.enter_context(instance(home)) if home is not None else None
        requests = _requests(dagster, last)
        attention = _show_sync(out, warehouse.duckdb_path, publish.c1z_output_dir, last,
                               requests)
        if dagster is None:
            out.print(f"Dagster: not read ({escape(unread)})")
        else:
            attention += _show_dagster(out, dagster)
    if last is None:
        raise SystemExit(CONFIG)
    raise SystemExit(FAILED if attention else OK)


def _requests(dagster: Any, last: LastSync | None) -> int | None:
    if dagster is None or last is None:
        return None
    from litmos_pipeline.cli import runs

    return runs.requests_of(dagster, last.run_id)


def _last_sync(path: Path) -> LastSync | None:
    if not path.exists():
        return None
    from litmos_pipeline.warehouse import store

    try:
        con = store.connect(path, read_only=True, lock_timeout_s=LOCK_WAIT_S)
    except store.WarehouseLockTimeout as exc:
        raise click.ClickException(f"{exc}; try again") from None
    try:
        if not store.table_exists(con, "sync_runs"):
            return None
        row = con.execute("SELECT sync_id, run_id, finished_at, users, grants, grants_added, "
                          "grants_removed, (SELECT count(*) FROM sync_runs) FROM sync_runs "
                          "ORDER BY finished_at DESC LIMIT 1").fetchone()
        if row is None:
            return None
        provisioned = dict(con.execute(
            "SELECT change, count(*) FROM grant_changes WHERE source = 'provisioning' "
            "AND changed_at >= ? GROUP BY change", [row[2]]).fetchall())
        failed = con.execute(
            "SELECT count(*) FROM provisioning_audit WHERE outcome = 'failed' "
            "AND finished_at >= now()::TIMESTAMP - INTERVAL 1 DAY").fetchone()
    finally:
        con.close()
    finished = row[2].replace(tzinfo=UTC).timestamp()  # stored as naive UTC
    return LastSync(row[0], row[1], finished, row[3], row[4], row[5], row[6], row[7],
                    provisioned, int(failed[0]) if failed else 0)


def _show_sync(out: Console, db: Path, c1z_dir: Path, last: LastSync | None,
               requests: int | None) -> int:
    if last is None:
        out.print(f"[bold]no sync yet[/bold]: {shown_path(db)} (LITMOS_DUCKDB_PATH) holds no "
                  "published sync; run `litmos-pipeline sync`")
        return 0
    out.print(f"[bold]last sync[/bold] {last.sync_id} published {_when(last.finished_at)} "
              f"(run {last.run_id})")
    made = f"{requests:,} Litmos requests, " if requests is not None else ""
    out.print(f"  snapshot age {duration(time.time() - last.finished_at)}: {last.users:,} "
              f"users, {last.grants:,} grants (+{last.added:,} / -{last.removed:,}; "
              f"{made}{last.syncs} syncs recorded)")
    if last.provisioned:
        out.print(f"  provisioning since: +{last.provisioned.get('added', 0):,} / "
                  f"-{last.provisioned.get('removed', 0):,} grants")
    latest = c1z_dir / "latest.c1z"
    if latest.exists():
        out.print(f"  {shown_path(latest)}: written {_when(latest.stat().st_mtime)}")
    else:
        out.print(f"  no {shown_path(latest)} (C1Z_OUTPUT_DIR)")
    if last.audit_failed:
        out.print(f"  [yellow]{last.audit_failed} provisioning task(s) failed in the last "
                  "day[/yellow] (provisioning_audit)")
    return 0


def _show_dagster(out: Console, dagster: Any) -> int:
    from litmos_pipeline.cli import runs

    attention = 0
    published = None
    for job in (runs.SYNC_JOB, runs.REFRESH_JOB):
        newest, success = runs.last_runs(dagster, job)
        out.print(_run_line(job, newest, success))
        if job == runs.SYNC_JOB:
            published = success
            attention += newest is not None and newest.status == "FAILURE"
    holds = runs.held_syncs(dagster, published.at if published else None)
    for hold in holds:
        attention += 1
        out.print(f"[bold red]held sync[/bold red] run {hold.run_id} ({_when(hold.at)}): "
                  f"{escape(_figures(hold.figures))}; publish it with `litmos-pipeline "
                  "sync --accept-mass-removal` if the removal is real")
    tasks = runs.c1_tasks(dagster)
    out.print(f"C1 tasks: {len(tasks.queued)} queued or running"
              + (f" ({', '.join(tasks.queued[:5])}{'…' if len(tasks.queued) > 5 else ''})"
                 if tasks.queued else "")
              + f", {len(tasks.failed)} failed in the last day"
              + (f" ({', '.join(tasks.failed[:5])}{'…' if len(tasks.failed) > 5 else ''})"
                 if tasks.failed else ""))
    attention += len(tasks.failed)
    if not holds:
        out.print("guard: no held sync")
    return attention


def _run_line(job: str, newest: Any, success: Any) -> str:
    if newest is None:
        return f"{job}: no runs"
    line = f"{job}: last run {newest.status.lower()} {_when(newest.at)} ({newest.run_id})"
    if success is not None and success.run_id != newest.run_id:
        line += f"; last success {_when(success.at)}"
    elif success is None:
        line += "; never succeeded"
    return line


def _figures(figures: dict[str, Any]) -> str:
    return (f"it would remove {figures.get('guard_removed_grants')} of "
            f"{figures.get('guard_published_grants')} grants "
            f"({float(figures.get('guard_removed_grants_share') or 0):.1%}, at most "
            f"{float(figures.get('guard_max_grant_removal') or 0):.0%}) and "
            f"{figures.get('guard_removed_users')} of {figures.get('guard_published_users')} "
            f"users ({float(figures.get('guard_removed_users_share') or 0):.1%}, at most "
            f"{float(figures.get('guard_max_user_removal') or 0):.0%})")


def _when(epoch: float) -> str:
    stamp = datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"{stamp} ({duration(time.time() - epoch)} ago)"
