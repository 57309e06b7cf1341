"""DuckDB files: connecting (with lock retries), named SQL, and staged snapshots.

A sync writes into its own staging file, so it never holds the main file while it waits
on the Litmos API. The main file is held only for the swap, which copies the finished
snapshot in within one transaction: readers see the old snapshot or the new, never half.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb

from litmos_pipeline import files
from litmos_pipeline.c1 import ids, messages

SQL_PACKAGE = "litmos_pipeline.warehouse.sql"
PARAM = re.compile(r"\$(\w+)")
LOCK_ERRORS = ("lock", "Conflicting")


class WarehouseLockTimeout(RuntimeError):
    pass


@cache
def named_sql(file: str) -> dict[str, list[str]]:
    """`-- name: x` blocks of a .sql file, each split into its statements."""
    text = resources.files(SQL_PACKAGE).joinpath(file).read_text(encoding="utf-8")
    blocks: dict[str, list[str]] = {}
    for chunk in re.split(r"^-- name: ", text, flags=re.M)[1:]:
        name, _, body = chunk.partition("\n")
        statements = [s.strip() for s in re.split(r";\s*$", body, flags=re.M)]
        blocks[name.strip()] = [s for s in statements if _has_code(s)]
    return blocks


def _has_code(statement: str) -> bool:
    return any(line.strip() and not line.strip().startswith("--")
               for line in statement.splitlines())


def run_sql(con: duckdb.DuckDBPyConnection, file: str, name: str,
            params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
    """Execute a named block; returns the rows of its last statement."""
    rows: list[tuple[Any, ...]] = []
    for statement in named_sql(file)[name]:
        used = {key: (params or {})[key] for key in PARAM.findall(statement)}
        result = con.execute(statement, used) if used else con.execute(statement)
        rows = result.fetchall() if result.description else []
    return rows


def connect(
    path: Path,
    *,
    memory_limit: str = "96MB",
    read_only: bool = False,
    lock_timeout_s: float = 120.0,
    preserve_order: bool = False,
) -> duckdb.DuckDBPyConnection:
    """Open a DuckDB file, waiting while another process holds its lock.

    `preserve_order` keeps rows in the order they were read when a query has no ORDER
    BY (DuckDB's default); off, DuckDB may reorder them for less memory.
    """
    _private(path)
    config = {"memory_limit": memory_limit, "threads": 2,
              "preserve_insertion_order": preserve_order}
    deadline = time.monotonic() + lock_timeout_s
    delay = 0.05
    while True:
        try:
            con = duckdb.connect(str(path), read_only=read_only, config=config)
        except duckdb.IOException as exc:
            if not any(word in str(exc) for word in LOCK_ERRORS):
                raise
            if time.monotonic() >= deadline:
                raise WarehouseLockTimeout(
                    f"DuckDB file {path} stayed locked by another process for "
                    f"{lock_timeout_s:.0f}s") from None
            time.sleep(delay)
            delay = min(delay * 2, 1.0)
            continue
        # No progress bars: worker processes answer on stdout, and logs need no bars.
        con.execute("SET enable_progress_bar = false")
        install_macros(con)
        return con


def _private(path: Path) -> None:
    """Make the file's folder private and set the umask before DuckDB creates anything.

    The umask covers what DuckDB makes itself (the file, its WAL, the spill folder);
    a file and WAL an older version left readable to others are tightened.
    """
    mode = files.protect_process()
    files.private_dir(path.parent, mode)
    for existing in (path, wal_path(path)):
        files.tighten(existing, mode)


def wal_path(path: Path) -> Path:
    return path.with_name(path.name + ".wal")


def install_macros(con: duckdb.DuckDBPyConnection) -> None:
    for statement in (*ids.DUCKDB_MACROS, *messages.DUCKDB_MACROS):
        con.execute(statement)
    run_sql(con, "transform.sql", "macros")


@contextmanager
def opened(path: Path, **kwargs: Any) -> Iterator[duckdb.DuckDBPyConnection]:
    con = connect(path, **kwargs)
    try:
        yield con
    finally:
        con.close()


@contextmanager
def opened_main(path: Path, *, memory_limit: str,
                lock_timeout_s: float = 300.0) -> Iterator[duckdb.DuckDBPyConnection]:
    """The main warehouse file, with the schema in place; hold it briefly."""
    with opened(path, memory_limit=memory_limit, lock_timeout_s=lock_timeout_s) as con:
        run_sql(con, "main.sql", "schema")
        yield con


def attach(con: duckdb.DuckDBPyConnection, path: Path, alias: str) -> None:
    """ATTACH a DuckDB file under `alias` (the path quoted as an SQL literal)."""
    _private(path)
    literal = str(path).replace("'", "''")
    con.execute(f"ATTACH '{literal}' AS {alias}")


def now_utc() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def table_exists(con: duckdb.DuckDBPyConnection, table: str, catalog: str | None = None) -> bool:
    query = "SELECT count(*) FROM duckdb_tables() WHERE table_name = ?"
    params: list[Any] = [table]
    if catalog:
        query += " AND database_name = ?"
        params.append(catalog)
    row = con.execute(query, params).fetchone()
    return bool(row and row[0])


def count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    name = ".".join(f'"{part}"' for part in table.split("."))
    row = con.execute(f"SELECT count(*) FROM {name}").fetchone()
    return int(row[0]) if row else 0


def preview_markdown(con: duckdb.DuckDBPyConnection, query: str, limit: int = 10) -> str:
    """A few rows as a markdown table, for the Dagster UI."""
    result = con.execute(f"SELECT * FROM ({query}) LIMIT {int(limit)}")
    columns = [d[0] for d in result.description]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in result.fetchall():
        cells = ["" if v is None else str(v).replace("|", "\\|")[:60] for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
