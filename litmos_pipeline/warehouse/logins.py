"""Users' last login for a full sync, without a request per user.

The user list has no LastLogin, and GET /users/{id} costs a request per user (100,000 on
the large tenant). `GET /org/users/logins` answers who signed in within a window of at
most 7 days, paged: a look-back of `days` costs, per 7-day window w, floor(n_w/1000)+1
requests for its n_w sign-ins. A sign-in older than the look-back is kept from the
previous snapshot (`known_logins`), so a last login is the newest one ever seen.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import duckdb

from litmos_pipeline.catalog.delta import DELTA_LOGINS, MAX_WINDOW_DAYS
from litmos_pipeline.litmos.client import LitmosClient
from litmos_pipeline.warehouse import store
from litmos_pipeline.warehouse.loader import RawLoader
from litmos_pipeline.warehouse.refresh import DELTA_TIME_FORMAT, TO_AHEAD, load_pages

KNOWN_TABLE = "known_logins"


def windows(now: datetime, days: int) -> list[tuple[datetime, datetime]]:
    """[since, to) windows covering the `days` before `now`, newest first."""
    to = now.replace(microsecond=0) + TO_AHEAD
    start = to - timedelta(days=days)
    step = timedelta(days=MAX_WINDOW_DAYS)
    return [(max(start, to - (i + 1) * step), to - i * step)
            for i in range(math.ceil(days / MAX_WINDOW_DAYS))]


def read_logins(con: duckdb.DuckDBPyConnection, client: LitmosClient, now: datetime,
                days: int) -> tuple[int, int]:
    """The sign-ins of the look-back into raw_delta_logins (staged empty with days=0);
    (records, pages)."""
    loader = RawLoader(con, DELTA_LOGINS.records)
    pages = 0
    for since, to in windows(now, days):
        params = {"since": since.strftime(DELTA_TIME_FORMAT),
                  "to": to.strftime(DELTA_TIME_FORMAT)}
        pages += load_pages(loader, client, DELTA_LOGINS, params, first_page=pages + 1)
    loader.flush()
    return loader.rows, pages


def stage_known(con: duckdb.DuckDBPyConnection, main: duckdb.DuckDBPyConnection | None,
                batch_rows: int = 50_000) -> int:
    """The last logins the published snapshot knows, into the staging file, in batches
    (two lists of ids and times a batch: the run process keeps its memory)."""
    con.execute(f"CREATE OR REPLACE TABLE {KNOWN_TABLE} (id VARCHAR, last_login TIMESTAMP)")
    if main is None or not store.table_exists(main, "litmos_users"):
        return 0
    result = main.execute("SELECT id, last_login FROM litmos_users "
                          "WHERE last_login IS NOT NULL")
    while rows := result.fetchmany(batch_rows):
        con.execute(f"INSERT INTO {KNOWN_TABLE} SELECT unnest($1::VARCHAR[]), "
                    "unnest($2::TIMESTAMP[])", [[r[0] for r in rows], [r[1] for r in rows]])
    return store.count(con, KNOWN_TABLE)
