"""The c1z writer's source in the warehouse: the c1_* tables of a DuckDB file.

`DuckDBC1zSource` implements the writer's `C1zSource` over a DuckDB connection: it
checks the c1_* tables, reads them in sorted key-range partitions, and lays out every
grant's bytes in SQL; `write_c1z` writes a connection's model as a c1z. The writer
itself (litmos_pipeline.c1.c1z) knows no DuckDB.

Tables are read in key-range partitions, each sorted by external id, so DuckDB's sort
memory stays bounded while SQLite receives rows in index order (which halves the cost of
building the indexes); grants are cut by entitlement id, which orders them the same way
and is cheap to filter on. DuckDB sorts the next grant partition while SQLite appends
the current one, and once the grants are in, its buffer pool is shrunk so the index
build and compression do not stack on it.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import math
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from litmos_pipeline import catalog
from litmos_pipeline.c1.c1z.encoding import RESOURCE_COLUMNS
from litmos_pipeline.c1.c1z.errors import C1zInputError
from litmos_pipeline.c1.c1z.schema import MAX_ID_BYTES
from litmos_pipeline.c1.c1z.source import GRANT_FIELDS, EntitlementRow, ResourceTypeRow
from litmos_pipeline.c1.c1z.summary import C1zSummary
from litmos_pipeline.c1.c1z.writer import DEFAULT_ZSTD_LEVEL
from litmos_pipeline.c1.c1z.writer import write_c1z as write_from_source

# Two grant partitions are in flight at once: one sorted in DuckDB's memory, the other
# held as Arrow (~340 bytes a grant) while SQLite appends it. 40k rows: on the large
# benchmark's staging file, the writer peaked at 260-265 MB (60k: 275-279 MB) at the same
# speed (grants are clustered by entitlement, so each partition's scan skips most row
# groups).
DEFAULT_PARTITION_ROWS = 40_000
DEFAULT_BATCH_ROWS = 10_000
_LATE_MEMORY_LIMIT = "32MB"
# Resources (and entitlements) carry profiles: smaller partitions to sort within 32MB.
_RESOURCE_PARTITION_ROWS = 20_000
# Resource rows are wide (profile JSON, timestamps), so they are fetched in smaller batches.
_RESOURCE_BATCH_DIVISOR = 5


def _sql_varint(n: str) -> str:
    # Up to 3 bytes (< 2 MiB); ids are capped at MAX_ID_BYTES, far below.
    return (
        f"(CASE WHEN {n} < 128 THEN encode(chr({n}::INTEGER))"
        f" WHEN {n} < 16384 THEN unhex(printf('%02x%02x', {n} % 128 + 128, {n} // 128))"
        f" ELSE unhex(printf('%02x%02x%02x', {n} % 128 + 128, ({n} // 128) % 128 + 128,"
        f" {n} // 16384)) END)"
    )


def sql_field(tag: int, blob_column: str) -> str:
    """SQL for one length-delimited protobuf field: tag byte, varint length, bytes."""
    return (
        f"('\\x{tag:02x}'::BLOB || {_sql_varint(f'octet_length({blob_column})')}"
        f" || {blob_column})"
    )


# Each entitlement's encoded Grant field 1, in a temp table of the cursor that reads grants.
ENT_FIELDS_TABLE = "c1z_entitlement_fields"

# Grant = entitlement(1) [pre-encoded per entitlement] + principal(2) + id(3), in field
# order, exactly as deterministic serialization lays them out (source.GRANT_FIELDS).
# principal is Resource{id(1): ResourceId{resource_type(1), resource(2)}}. The columns
# are named as in v1_grants: the Arrow stream of this query is appended to it by name.
GRANTS_QUERY = f"""
SELECT resource_type_id, resource_id, entitlement_id,
       principal_type_id AS principal_resource_type_id,
       principal_id AS principal_resource_id, grant_id AS external_id,
       ent_field || {sql_field(GRANT_FIELDS["principal"], "principal")}
         || {sql_field(GRANT_FIELDS["id"], "gid")} AS data,
       $sync_id AS sync_id, $discovered_at AS discovered_at
FROM (
  SELECT *, {sql_field(GRANT_FIELDS["resource.id"], "rid")} AS principal
  FROM (
    SELECT *, {sql_field(GRANT_FIELDS["resource_id.resource_type"], "pt")}
              || {sql_field(GRANT_FIELDS["resource_id.resource"], "pid")} AS rid
    FROM (
      SELECT g.resource_type_id, g.resource_id, g.entitlement_id, g.principal_type_id,
             g.principal_id, g.grant_id, e.ent_field,
             encode(g.principal_type_id) AS pt, encode(g.principal_id) AS pid,
             encode(g.grant_id) AS gid
      FROM c1_grants g
      JOIN {ENT_FIELDS_TABLE} e ON g.entitlement_id = e.entitlement_id
      WHERE {{where}}
    )
  )
)
ORDER BY grant_id
"""


_REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "c1_resource_types": ("resource_type_id", "display_name", "traits", "description"),
    "c1_resources": RESOURCE_COLUMNS,
    "c1_entitlements": (
        "entitlement_id",
        "resource_type_id",
        "resource_id",
        "slug",
        "display_name",
        "description",
        "purpose",
        "grantable_to",
    ),
    "c1_grants": (
        "grant_id",
        "entitlement_id",
        "resource_type_id",
        "resource_id",
        "principal_type_id",
        "principal_id",
    ),
}


# c1_* table -> the record kind the writer counts it as (source.RECORD_KINDS).
_KINDS = {"c1_resource_types": "resource_types", "c1_resources": "resources",
          "c1_entitlements": "entitlements", "c1_grants": "grants"}


def count_rows(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Rows of each c1_* table, by record kind; names a table or column that is missing."""
    counts: dict[str, int] = {}
    for table, columns in _REQUIRED_COLUMNS.items():
        try:
            row = con.execute(f"SELECT count(*) FROM (SELECT {', '.join(columns)} FROM {table})")
            counts[_KINDS[table]] = int(row.fetchone()[0])  # type: ignore[index]
        except duckdb.Error as exc:
            raise C1zInputError(
                f"input table {table} must exist with columns {', '.join(columns)}: {exc}"
            ) from None
    return counts


def _first_row(con: duckdb.DuckDBPyConnection, sql: str) -> tuple[Any, ...] | None:
    return con.execute(sql).fetchone()


def _bad_id_sql(column: str) -> str:
    return (
        f"({column} IS NULL OR {column} = '' OR contains({column}, ':')"
        f" OR octet_length(encode({column})) > {MAX_ID_BYTES})"
    )


def validate_grants(con: duckdb.DuckDBPyConnection) -> None:
    """One scan for malformed grant rows, one anti-join for unknown entitlements."""
    parts = " OR ".join(
        _bad_id_sql(c)
        for c in ("resource_type_id", "resource_id", "principal_type_id", "principal_id")
    )
    bad = _first_row(
        con,
        f"""SELECT grant_id, entitlement_id, resource_type_id, resource_id,
                   principal_type_id, principal_id
            FROM c1_grants
            WHERE {parts} OR grant_id IS NULL OR entitlement_id IS NULL
               OR octet_length(encode(grant_id)) > {MAX_ID_BYTES}
               OR NOT starts_with(entitlement_id, resource_type_id || ':' || resource_id || ':')
               OR grant_id <> entitlement_id || ':' || principal_type_id || ':' || principal_id
            LIMIT 1""",
    )
    if bad is not None:
        grant, ent, rtype, rid, ptype, pid = bad
        raise C1zInputError(
            f"c1_grants row with grant_id {grant!r} is malformed: expected grant_id "
            f"'<entitlement_id>:<principal_type>:<principal_id>' with entitlement_id "
            f"'<resource_type_id>:<resource_id>:<slug>' and non-empty ':'-free parts of at most "
            f"{MAX_ID_BYTES} bytes (entitlement_id={ent!r}, resource={rtype!r}/{rid!r}, "
            f"principal={ptype!r}/{pid!r})"
        )
    orphan = _first_row(
        con,
        """SELECT g.grant_id, g.entitlement_id FROM c1_grants g
           ANTI JOIN c1_entitlements e ON g.entitlement_id = e.entitlement_id LIMIT 1""",
    )
    if orphan is not None:
        raise C1zInputError(
            f"c1_grants row {orphan[0]!r} references entitlement {orphan[1]!r}, "
            "which is not in c1_entitlements"
        )


def check_not_null(con: duckdb.DuckDBPyConnection, table: str, key: str) -> None:
    bad = _first_row(con, f"SELECT count(*) FROM {table} WHERE {key} IS NULL OR {key} = ''")
    if bad is not None and bad[0]:
        raise C1zInputError(f"{table} has {bad[0]} row(s) with an empty or NULL {key}")


def duplicate_key(con: duckdb.DuckDBPyConnection, table: str, key: str) -> str | None:
    row = _first_row(
        con, f"SELECT {key} FROM {table} GROUP BY {key} HAVING count(*) > 1 ORDER BY {key} LIMIT 1"
    )
    return None if row is None else str(row[0])


# --------------------------------------------------------------------------- partitioned reads


def partition_bounds(
    con: duckdb.DuckDBPyConnection, table: str, key: str, n_rows: int, partition_rows: int
) -> list[tuple[str | None, str | None]]:
    """Key ranges of roughly partition_rows rows each, cut at quantiles of a sample."""
    parts = max(1, math.ceil(n_rows / max(1, partition_rows)))
    if parts == 1:
        return [(None, None)]
    sample_size = min(n_rows, parts * 200)
    keys = sorted(
        row[0]
        for row in con.execute(
            f"SELECT {key} FROM {table} USING SAMPLE reservoir({sample_size} ROWS) REPEATABLE (7)"
        ).fetchall()
    )
    cuts: list[str] = []
    for i in range(1, parts):
        cut = keys[min(len(keys) - 1, (i * len(keys)) // parts)]
        if not cuts or cut > cuts[-1]:
            cuts.append(cut)
    lows: list[str | None] = [None, *cuts]
    highs: list[str | None] = [*cuts, None]
    return list(zip(lows, highs, strict=True))


def grant_partitions(
    con: duckdb.DuckDBPyConnection, partition_rows: int
) -> list[tuple[str, dict[str, str]]]:
    """WHERE clauses (with params) cutting c1_grants into ~partition_rows pieces, in order.

    A grant id is its entitlement id, ':', then ':'-free parts, so grant ids sort by
    entitlement first: runs of whole entitlements, each sorted by grant id, come out in
    grant id order, and filtering on entitlement_id (a few thousand distinct values) is
    cheap. An entitlement bigger than a partition is cut by grant id ranges of its own.
    """
    counts = con.execute(
        "SELECT entitlement_id, count(*) FROM c1_grants GROUP BY 1 ORDER BY 1"
    ).fetchall()
    parts: list[tuple[str, dict[str, str]]] = []
    run: list[str] = []
    in_run = 0

    def close_run() -> None:
        nonlocal run, in_run
        if run:
            parts.append(("g.entitlement_id BETWEEN $first AND $last",
                          {"first": run[0], "last": run[-1]}))
        run, in_run = [], 0

    for entitlement_id, n in counts:
        if n > partition_rows:
            close_run()
            parts.extend(_slices_of_entitlement(con, entitlement_id, n, partition_rows))
            continue
        if in_run + n > partition_rows:
            close_run()
        run.append(entitlement_id)
        in_run += n
    close_run()
    return parts or [("TRUE", {})]


def _slices_of_entitlement(
    con: duckdb.DuckDBPyConnection, entitlement_id: str, n_rows: int, partition_rows: int
) -> list[tuple[str, dict[str, str]]]:
    literal = entitlement_id.replace("'", "''")
    table = f"(SELECT grant_id FROM c1_grants WHERE entitlement_id = '{literal}')"
    slices = []
    for low, high in partition_bounds(con, table, "grant_id", n_rows, partition_rows):
        where, params = range_where("g.grant_id", low, high)
        slices.append((f"g.entitlement_id = $entitlement AND {where}",
                       {**params, "entitlement": entitlement_id}))
    return slices


def range_where(column: str, low: str | None, high: str | None) -> tuple[str, dict[str, str]]:
    clauses: list[str] = []
    params: dict[str, str] = {}
    if low is not None:
        clauses.append(f"{column} >= $low")
        params["low"] = low
    if high is not None:
        clauses.append(f"{column} < $high")
        params["high"] = high
    return (" AND ".join(clauses) or "TRUE"), params


def stream(
    con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any], batch_rows: int
) -> Iterator[list[tuple[Any, ...]]]:
    con.execute(sql, params)
    while True:
        batch = con.fetchmany(batch_rows)
        if not batch:
            return
        yield batch


# --------------------------------------------------------------------------- the source


class DuckDBC1zSource:
    """`C1zSource` over the c1_* tables of a DuckDB connection (read-only is enough)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, *,
                 partition_rows: int = DEFAULT_PARTITION_ROWS,
                 batch_rows: int = DEFAULT_BATCH_ROWS) -> None:
        self.con = con
        self.partition_rows = partition_rows
        self.batch_rows = batch_rows

    def check(self) -> dict[str, int]:
        counts = count_rows(self.con)
        check_not_null(self.con, "c1_resources", "external_id")
        check_not_null(self.con, "c1_entitlements", "entitlement_id")
        validate_grants(self.con)
        return counts

    def resource_types(self) -> list[ResourceTypeRow]:
        return self.con.execute(
            "SELECT resource_type_id, display_name, traits, description FROM c1_resource_types"
            " ORDER BY resource_type_id"
        ).fetchall()

    def _ranged(self, table: str, key: str, select: str,
                batch_rows: int | None = None) -> Iterator[list[tuple[Any, ...]]]:
        """Stream `select` (with a {where} slot) in sorted key-range partitions of `table`.

        `key` may carry the select's table alias ("e.entitlement_id"); the sample is
        drawn on the bare column.
        """
        column = key.rsplit(".", 1)[-1]
        n_rows = self.con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # type: ignore[index]
        rows = min(self.partition_rows, _RESOURCE_PARTITION_ROWS)
        for low, high in partition_bounds(self.con, table, column, n_rows, rows):
            where, params = range_where(key, low, high)
            sql = select.replace("{where}", where)
            yield from stream(self.con, sql, params, batch_rows or self.batch_rows)

    def resources(self) -> Iterator[Sequence[tuple[Any, ...]]]:
        select = (
            f"SELECT {', '.join(RESOURCE_COLUMNS)} FROM c1_resources WHERE {{where}}"
            " ORDER BY external_id"
        )
        batch_rows = max(1, self.batch_rows // _RESOURCE_BATCH_DIVISOR)
        return self._ranged("c1_resources", "external_id", select, batch_rows)

    def entitlements(self) -> Iterator[Sequence[EntitlementRow]]:
        select = """
            SELECT e.entitlement_id, e.resource_type_id, e.resource_id, r.display_name, e.slug,
                   e.display_name, e.description, e.purpose, e.grantable_to
            FROM c1_entitlements e
            LEFT JOIN (
                -- grouped so a duplicated resource (reported by its own index) cannot
                -- duplicate entitlement rows
                SELECT resource_type_id, resource_id, min(display_name) AS display_name
                FROM c1_resources GROUP BY resource_type_id, resource_id
            ) r ON r.resource_type_id = e.resource_type_id AND r.resource_id = e.resource_id
            WHERE {where}
            ORDER BY e.entitlement_id"""
        return self._ranged("c1_entitlements", "e.entitlement_id", select)

    def grant_streams(self, entitlement_ids: list[str], entitlement_fields: list[bytes],
                      sync_id: str, discovered_at: str) -> Iterator[object]:
        """Each partition sorted and encoded by DuckDB, handed over as one Arrow stream.

        Two cursors take turns: one sorts the next partition in a thread while SQLite
        appends the other's (both release the GIL). On the large tenant's staging file
        the grants took 12 s this way against 18 s one after the other.
        """
        partitions = grant_partitions(self.con, self.partition_rows)
        constants = {"sync_id": sync_id, "discovered_at": discovered_at}
        cursors = [self._grant_cursor(entitlement_ids, entitlement_fields) for _ in range(2)]

        def open_stream(n: int, where: str, params: dict[str, str]) -> Any:
            sql = GRANTS_QUERY.replace("{where}", where)
            return cursors[n % 2].sql(sql, params={**params, **constants}).__arrow_c_stream__()

        try:
            with concurrent.futures.ThreadPoolExecutor(1, "c1z-sort") as pool:
                # Leaving the pool (also on close) first waits for a partition still
                # being sorted.
                pending = pool.submit(open_stream, 0, *partitions[0])
                for n, later in enumerate([*partitions[1:], None], start=1):
                    opened = pending.result()
                    # The other cursor's stream has been appended whole by now.
                    if later is not None:
                        pending = pool.submit(open_stream, n, *later)
                    yield opened
        finally:
            for cursor in cursors:
                cursor.close()

    def _grant_cursor(self, ent_ids: list[str], ent_fields: list[bytes]
                      ) -> duckdb.DuckDBPyConnection:
        # A temp table per cursor (a cursor sees only its own): passed to every partition's
        # query as list parameters instead, the 11,000 entitlements of the large tenant
        # cost ~4 s of binding and unnesting over its ~100 partitions.
        cursor = self.con.cursor()
        cursor.execute(
            f"CREATE TEMP TABLE {ENT_FIELDS_TABLE} AS SELECT"
            " unnest($ids::VARCHAR[]) AS entitlement_id, unnest($fields::BLOB[]) AS ent_field",
            {"ids": ent_ids, "fields": ent_fields})
        return cursor

    @contextlib.contextmanager
    def low_memory(self) -> Iterator[None]:
        # The big DuckDB reads are over: let its buffer pool go, so SQLite's index sorter
        # and zstd do not stack on top of it (resources are a few MB a partition).
        con = self.con
        before = con.execute("SELECT current_setting('memory_limit')").fetchone()[0]  # type: ignore[index]
        con.execute(f"SET memory_limit = '{_LATE_MEMORY_LIMIT}'")
        try:
            yield
        finally:
            con.execute(f"SET memory_limit = '{before}'")

    def duplicate_error(self, table: str) -> C1zInputError:
        source = {
            "v1_resource_types": ("c1_resource_types", "resource_type_id"),
            "v1_resources": ("c1_resources", "external_id"),
            "v1_entitlements": ("c1_entitlements", "entitlement_id"),
            "v1_grants": ("c1_grants", "grant_id"),
        }
        src_table, key = source.get(table, (table, "external_id"))
        dup = duplicate_key(self.con, src_table, key) if table in source else None
        example = f", e.g. {dup!r}" if dup is not None else ""
        return C1zInputError(f"{src_table} has duplicate {key} values{example}")


def write_c1z(
    dest: Path | str,
    con: duckdb.DuckDBPyConnection,
    sync_id: str,
    started_at: datetime,
    ended_at: datetime,
    *,
    discovered_at: datetime | None = None,
    zstd_level: int = DEFAULT_ZSTD_LEVEL,
    partition_rows: int = DEFAULT_PARTITION_ROWS,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    file_mode: int | None = None,
    sync_type: str = "full",
) -> C1zSummary:
    """The c1_* tables of `con` as a c1z at `dest` (see c1z.write_c1z for the rest)."""
    source = DuckDBC1zSource(con, partition_rows=partition_rows, batch_rows=batch_rows)
    return write_from_source(dest, source, sync_id, started_at, ended_at,
                             discovered_at=discovered_at, zstd_level=zstd_level,
                             file_mode=file_mode, immutable=state_entitlements(),
                             sync_type=sync_type)


def state_entitlements() -> tuple[tuple[str, str], ...]:
    """(resource type, slug) of the catalog's status entitlements (course completed,
    in_progress): Litmos sets them, so C1 is told they cannot be requested."""
    return tuple((rt.id, e.slug) for rt in catalog.CATALOG for e in rt.entitlements
                 if e.state)
