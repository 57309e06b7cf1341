"""A refresh: the current snapshot plus Litmos' delta queries, as a new staged snapshot.

The run reads the delta queries for the window since the current snapshot was read
(`plan_window`, `read_delta`: a few pages, into the run's staging file); a worker copies
the snapshot's typed tables beside them and applies them (`apply`, refresh.sql). The
model build, its checks and the swap are then a sync's (snapshot.py), so a refresh is
published with the same guarantees: whole or not at all, never on failure, held by the
mass-revocation guard.

Removals Litmos does not report (a delta query shows what was created or updated) stay
in a refreshed snapshot until the next full sync: `Window.unreconciled_since` says since
when, and a refresh refuses once the last full sync is older than one delta window.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import duckdb

from litmos_pipeline import catalog
from litmos_pipeline.catalog.delta import DELTA_LISTS, MAX_WINDOW_DAYS, DeltaList
from litmos_pipeline.litmos.client import LitmosClient
from litmos_pipeline.litmos.ids import is_litmos_id
from litmos_pipeline.warehouse import store
from litmos_pipeline.warehouse.loader import RawLoader, id_error

# Litmos' delta parameters: `since` and `to`, this format, UTC assumed (not documented).
DELTA_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
# `to` must lie in the future to include the present (litmos-api.md); a minute ahead.
TO_AHEAD = timedelta(minutes=1)
# Every typed table the catalog declares, copied from the snapshot as base_<stem>; those
# with a block in refresh.sql are rebuilt from it and the delta, the others (a resource
# type no delta query covers) are carried over as they are, until the next full sync.
TYPED_TABLES = catalog.TYPED_TABLES
BASE_TABLES = {typed: "base_" + typed.removeprefix("litmos_") for typed in TYPED_TABLES}
WINDOW_TABLE = "refresh_window"

Progress = Callable[[str], None]


class RefreshRefused(RuntimeError):
    """No refresh can be built now (no full sync yet, or the last one is too old)."""


@dataclass(frozen=True)
class Window:
    """What a refresh reads: Litmos' changes in [since, to), all UTC (naive)."""

    since: datetime
    to: datetime
    previous_sync_id: str  # the snapshot it refreshes
    previous_kind: str  # 'sync' | 'refresh'
    full_sync_id: str  # the last full sync: the reconciler
    unreconciled_since: datetime  # when that sync read Litmos

    def params(self) -> dict[str, str]:
        return {"since": self.since.strftime(DELTA_TIME_FORMAT),
                "to": self.to.strftime(DELTA_TIME_FORMAT)}


def plan_window(main: duckdb.DuckDBPyConnection, now: datetime, overlap_s: float) -> Window:
    """The window since the current snapshot began reading Litmos, less `overlap_s`.

    A sync's or refresh's reading takes time, and Litmos' clock and time zone for
    `since` are not documented: the overlap reads some changes twice, which is harmless
    (a delta record says how its record is now).
    """
    latest = main.execute("SELECT sync_id, coalesce(kind, 'sync'), started_at FROM sync_runs "
                          "ORDER BY finished_at DESC LIMIT 1").fetchone()
    full = main.execute("SELECT sync_id, started_at FROM sync_runs WHERE coalesce(kind, "
                        "'sync') = 'sync' ORDER BY finished_at DESC LIMIT 1").fetchone()
    if latest is None or full is None:
        raise RefreshRefused("no full sync has been published yet: a refresh applies changes "
                             "onto one; run litmos_sync first")
    missing = [t for t in TYPED_TABLES if not store.table_exists(main, t)]
    if missing:
        raise RefreshRefused(f"the snapshot has no {', '.join(missing)} (it predates them): "
                             "run litmos_sync once, then refreshes apply onto it")
    overlap = timedelta(seconds=overlap_s)
    to = now.replace(microsecond=0) + TO_AHEAD
    since = latest[2].replace(microsecond=0) - overlap
    oldest = to - timedelta(days=MAX_WINDOW_DAYS)
    if full[1] - overlap < oldest:
        raise RefreshRefused(
            f"a full sync is due: the last one ({full[0]}, read from {full[1]:%Y-%m-%d %H:%M} "
            f"UTC) is older than Litmos' {MAX_WINDOW_DAYS}-day delta window allows, so "
            "removals Litmos does not report could be missed for good; run litmos_sync")
    return Window(since=max(since, oldest), to=to, previous_sync_id=latest[0],
                  previous_kind=latest[1], full_sync_id=full[0], unreconciled_since=full[1])


@dataclass(frozen=True)
class DeltaRead:
    """One delta query's share of a refresh."""

    rows: int
    pages: int


def read_delta(con: duckdb.DuckDBPyConnection, client: LitmosClient, window: Window,
               lists: tuple[DeltaList, ...] = DELTA_LISTS,
               progress: Progress | None = None) -> dict[str, DeltaRead]:
    """Every delta query's pages for `window` into its raw table; results by table."""
    results = {}
    for delta in lists:
        loader = RawLoader(con, delta.records)
        pages = load_pages(loader, client, delta, window.params())
        loader.flush()
        results[delta.records.table] = DeltaRead(loader.rows, pages)
        if progress:
            progress(f"{delta.what}: {loader.rows} records in {pages} pages")
    _save_window(con, window)
    return results


def load_pages(loader: RawLoader, client: LitmosClient, delta: DeltaList,
               params: Mapping[str, str], first_page: int = 1) -> int:
    """One delta query's pages for `params` (its since/to) into `loader`; pages read."""
    pages = 0
    for page in client.pages(delta.path, delta.what, params):
        where = f"{delta.what} (page {first_page + pages})"
        records = page.text_records()
        check_id_fields(records, delta.id_fields, where)
        loader.add(records, where=where)
        pages += 1
    return pages


def check_id_fields(records: list[Mapping[str, str | None]], fields: tuple[str, ...],
                    where: str) -> None:
    """The record's own Id must be a Litmos id; the other id fields too, when not empty
    (a top-level team's ParentTeamId is)."""
    for position, record in enumerate(records, start=1):
        for n, field in enumerate(fields):
            value = record.get(field)
            if (value or n == 0) and not is_litmos_id(value):
                raise id_error(field, value, where, position)


def _save_window(con: duckdb.DuckDBPyConnection, window: Window) -> None:
    """The window in the staging file: the swap records it with the refresh."""
    con.execute(f"CREATE OR REPLACE TABLE {WINDOW_TABLE} AS SELECT ?::TIMESTAMP AS since, "
                "?::TIMESTAMP AS to_, ?::VARCHAR AS previous_sync_id, "
                "?::VARCHAR AS full_sync_id, ?::TIMESTAMP AS unreconciled_since",
                [window.since, window.to, window.previous_sync_id, window.full_sync_id,
                 window.unreconciled_since])


@dataclass(frozen=True)
class ApplyReport:
    """What `apply` built: the changes it read and the typed tables' row counts."""

    figures: dict[str, int]
    counts: dict[str, int]


def apply(main_path: Path, stage_path: Path, memory_limit: str, roles: list[str],
          course_ids: list[str], lock_timeout_s: float = 300.0) -> ApplyReport:
    """Copy the snapshot's typed tables into the staging file and apply the delta there.

    The main file is held only for the copy (seconds on the 100k-user tenant); the work
    runs on the staging file, as a sync's model build does.
    """
    with store.opened_main(main_path, memory_limit=memory_limit,
                           lock_timeout_s=lock_timeout_s) as main:
        store.attach(main, stage_path, "stage")
        try:
            for typed, base in BASE_TABLES.items():
                main.execute(f"CREATE OR REPLACE TABLE stage.{base} AS FROM {typed}")
            store.run_sql(main, "main.sql", "carried_provisioning")
        finally:
            main.execute("DETACH stage")
    params = {"roles": roles, "course_ids": course_ids}
    with store.opened(stage_path, memory_limit=memory_limit, preserve_order=True) as con:
        store.run_sql(con, "refresh.sql", "delta_latest", params)
        for table in TYPED_TABLES:
            if table in store.named_sql("refresh.sql"):
                store.run_sql(con, "refresh.sql", table, params)
            else:
                con.execute(f"ALTER TABLE {BASE_TABLES[table]} RENAME TO {table}")
        result = con.execute(store.named_sql("refresh.sql")["delta_figures"][-1])
        names = [d[0] for d in result.description]
        row = result.fetchone() or ()
        for base in BASE_TABLES.values():
            con.execute(f"DROP TABLE IF EXISTS {base}")
        counts = {t: store.count(con, t) for t in TYPED_TABLES}
    return ApplyReport(dict(zip(names, (int(n) for n in row), strict=True)), counts)


def is_refresh(con: duckdb.DuckDBPyConnection, database: str | None = None) -> bool:
    """The staging file holds a refresh (its window), not a sync's extract."""
    return store.table_exists(con, WINDOW_TABLE, database)
