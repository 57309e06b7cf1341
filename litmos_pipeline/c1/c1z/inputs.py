"""The writer's input, DuckDB's c1_* tables: checks, key-range partitions, grant bytes."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import duckdb

from litmos_pipeline.c1.c1z.encoding import RESOURCE_COLUMNS, sql_field
from litmos_pipeline.c1.c1z.errors import C1zInputError
from litmos_pipeline.c1.c1z.schema import MAX_ID_BYTES

# Each entitlement's encoded Grant field 1, in a temp table of the cursor that reads grants.
ENT_FIELDS_TABLE = "c1z_entitlement_fields"

# Grant = entitlement(1) [pre-encoded per entitlement] + principal(2) + id(3), in field
# order, exactly as deterministic serialization lays them out. principal is
# Resource{id(1): ResourceId{resource_type(1), resource(2)}}. The columns are named as in
# v1_grants: the Arrow stream of this query is appended to it by column name.
GRANTS_QUERY = f"""
SELECT resource_type_id, resource_id, entitlement_id,
       principal_type_id AS principal_resource_type_id,
       principal_id AS principal_resource_id, grant_id AS external_id,
       ent_field || {sql_field(0x12, "principal")} || {sql_field(0x1A, "gid")} AS data,
       $sync_id AS sync_id, $discovered_at AS discovered_at
FROM (
  SELECT *, {sql_field(0x0A, "rid")} AS principal
  FROM (
    SELECT *, {sql_field(0x0A, "pt")} || {sql_field(0x12, "pid")} AS rid
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


def count_rows(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    counts: dict[str, int] = {}
    for table, columns in _REQUIRED_COLUMNS.items():
        try:
            row = con.execute(f"SELECT count(*) FROM (SELECT {', '.join(columns)} FROM {table})")
            counts[table] = int(row.fetchone()[0])  # type: ignore[index]
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
