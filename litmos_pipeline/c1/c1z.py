"""c1z version-1 files: the writer (DuckDB c1_* tables -> .c1z) and a reader.

A c1z is the 5-byte magic ``C1ZF\\x00`` followed by one zstd stream of a SQLite database
laid out as the Baton SDK's dotc1z package lays it out (tables v1_resource_types,
v1_resources, v1_entitlements, v1_grants, v1_sync_runs, v1_assets,
v1_connector_sessions; same columns, NOT NULLs, defaults and index names), holding one
finished ``full`` sync. Each record's ``data`` column is the deterministic protobuf
encoding of the c1.connector.v2 message.

Speed matters (millions of grants): the writer never builds one Python protobuf object
per grant. Grants share few entitlements, so each entitlement's bytes are encoded once
with the generated classes; DuckDB then assembles every grant's bytes from that prefix
plus the principal and grant id fields, computing the varint lengths in SQL (tests check
the result byte-for-byte against ``Grant.SerializeToString(deterministic=True)``).
Tables are read in key-range partitions, each sorted by external id, so DuckDB's sort
memory stays bounded while SQLite receives rows in index order (which halves the cost of
building the indexes); grants are cut by entitlement id, which orders them the same way
and is cheap to filter on. Each grant partition goes from DuckDB to SQLite as one Arrow
stream through ADBC's SQLite driver, so no Python object is made per grant either, and
DuckDB sorts the next partition while SQLite appends the current one. Once
the grants are in, DuckDB's buffer pool is shrunk so the index build and compression do
not stack on it. Indexes are built after the load, which is much cheaper than
maintaining them per row, and the grant indexes (GIL-free SQLite work) are built in a
thread while resources are encoded into a side file that is copied in after.

CLI for operators: ``python -m litmos_pipeline.c1.c1z stats|resources|entitlements|grants FILE``.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import hashlib
import json
import math
import os
import shutil
import sqlite3
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import adbc_driver_manager as adbc
import adbc_driver_sqlite
import duckdb
import zstandard
from google.protobuf import any_pb2, struct_pb2
from google.protobuf.message import Message

from litmos_pipeline import files
from litmos_pipeline.c1 import ids
from litmos_pipeline.c1.ksuid import is_ksuid
from litmos_pipeline.c1.proto import connector_v2_pb2 as pb

MAGIC = b"C1ZF\x00"
MAGIC_V3 = b"C1Z3\x00"
SQLITE_HEADER = b"SQLite format 3\x00"
TYPE_URL_PREFIX = "type.googleapis.com/"

# The Baton SDK's decoder refuses zstd windows above 128 MiB and decoded files above 10 GiB.
MAX_WINDOW_BYTES = 128 * 1024 * 1024
DEFAULT_MAX_DECODED_BYTES = 10 * 1024**3

# On the large benchmark's 2.5 GB SQLite file, level 2 was both faster and smaller than 3
# (2.1-2.3 s and 208 MB against 2.9-3.0 s and 211 MB; level 1: 2.3 s, 215 MB).
DEFAULT_ZSTD_LEVEL = 2
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
# Upstream validation caps ids at 1024 bytes; C1 rejects longer ones.
MAX_ID_BYTES = 1024

_SQLITE_PAGE_SIZE = 16384
_SQLITE_CACHE_KIB = 16 * 1024


class C1zError(Exception):
    """Base class for c1z problems."""


class C1zInputError(C1zError, ValueError):
    """The c1_* tables handed to the writer are missing or hold invalid records."""


class C1zFormatError(C1zError):
    """A file is not a readable version-1 c1z (wrong magic, corrupt, truncated)."""


# --------------------------------------------------------------------------- schema
# Same tables, columns, constraints and index names as the Baton SDK's v1 writer after
# all its migrations, so the SDK finds nothing to migrate when it opens the file.

_TABLES_DDL = (
    """CREATE TABLE v1_resource_types (
    id integer primary key,
    external_id text not null,
    data blob not null,
    sync_id text not null,
    discovered_at datetime not null
)""",
    """CREATE TABLE v1_resources (
    id integer primary key,
    resource_type_id text not null,
    external_id text not null,
    parent_resource_type_id text,
    parent_resource_id text,
    data blob not null,
    sync_id text not null,
    discovered_at datetime not null
)""",
    """CREATE TABLE v1_entitlements (
    id integer primary key,
    resource_type_id text not null,
    resource_id text not null,
    external_id text not null,
    data blob not null,
    sync_id text not null,
    discovered_at datetime not null
)""",
    """CREATE TABLE v1_sync_runs (
    id integer primary key,
    sync_id text not null,
    started_at datetime not null,
    ended_at datetime,
    sync_token text not null,
    sync_type text not null default 'full',
    parent_sync_id text not null default '',
    linked_sync_id text not null default '',
    supports_diff integer not null default 0,
    grants_backfilled integer not null default 0,
    stats text,
    ingest_invariant_generation text not null default '',
    ingest_invariant_coverage text not null default '',
    ingest_invariant_mode text not null default ''
)""",
    """CREATE TABLE v1_grants (
    id integer primary key,
    resource_type_id text not null,
    resource_id text not null,
    entitlement_id text not null,
    principal_resource_type_id text not null,
    principal_resource_id text not null,
    external_id text not null,
    expansion blob,
    needs_expansion integer not null default 0,
    data blob not null,
    sync_id text not null,
    discovered_at datetime not null
)""",
    """CREATE TABLE v1_assets (
    id integer primary key,
    external_id text not null,
    content_type text not null,
    data blob not null,
    sync_id text not null,
    discovered_at datetime not null
)""",
    """CREATE TABLE v1_connector_sessions (
    id integer primary key,
    sync_id text NOT NULL,
    key TEXT NOT NULL,
    value BLOB NOT NULL
)""",
)

# Built after the bulk load: one sort per index beats per-row B-tree maintenance.
_INDEXES_DDL = (
    "CREATE UNIQUE INDEX idx_resource_types_external_sync_v1"
    " ON v1_resource_types (external_id, sync_id)",
    "CREATE INDEX idx_resources_resource_type_id_v1 ON v1_resources (resource_type_id)",
    "CREATE INDEX idx_resources_parent_resource_id_v1"
    " ON v1_resources (parent_resource_type_id, parent_resource_id)",
    "CREATE UNIQUE INDEX idx_resources_external_sync_v1 ON v1_resources (external_id, sync_id)",
    "CREATE INDEX idx_entitlements_resource_id_v1"
    " ON v1_entitlements (resource_type_id, resource_id)",
    "CREATE UNIQUE INDEX idx_entitlements_external_sync_v1"
    " ON v1_entitlements (external_id, sync_id)",
    "CREATE UNIQUE INDEX idx_sync_runs_sync_id_v1 ON v1_sync_runs (sync_id)",
    "CREATE UNIQUE INDEX idx_grants_external_sync_v1 ON v1_grants (external_id, sync_id)",
    "CREATE INDEX idx_grants_resource_type_id_resource_id_v1"
    " ON v1_grants (resource_type_id, resource_id)",
    "CREATE INDEX idx_grants_principal_id_v1"
    " ON v1_grants (principal_resource_type_id, principal_resource_id)",
    "CREATE INDEX idx_grants_entitlement_id_principal_id_v1"
    " ON v1_grants (entitlement_id, principal_resource_type_id, principal_resource_id)",
    "CREATE INDEX idx_grants_entitlement_sync_grant_v1 ON v1_grants (entitlement_id, sync_id, id)",
    "CREATE INDEX idx_grants_sync_expansion_v1 ON v1_grants (sync_id) WHERE expansion IS NOT NULL",
    "CREATE INDEX idx_grants_sync_needs_expansion_v1"
    " ON v1_grants (sync_id) WHERE needs_expansion = 1",
    "CREATE UNIQUE INDEX idx_assets_external_sync_v1 ON v1_assets (external_id, sync_id)",
    "CREATE UNIQUE INDEX idx_session_store_sync_key_v1 ON v1_connector_sessions (sync_id, key)",
)

# Partial indexes that no row of ours enters (grants carry no expansion data): made on the
# empty table they cost nothing per insert, and save two full scans of v1_grants later.
_UPFRONT_INDEXES_DDL = tuple(ddl for ddl in _INDEXES_DDL if " WHERE " in ddl)

RECORD_TABLES = ("v1_resource_types", "v1_resources", "v1_entitlements", "v1_grants")
_TABLE_NAMES = tuple(ddl.split()[2] for ddl in _TABLES_DDL)
_RESOURCE_TABLE_COLUMNS = (
    "resource_type_id",
    "external_id",
    "parent_resource_type_id",
    "parent_resource_id",
    "data",
    "sync_id",
    "discovered_at",
)


# --------------------------------------------------------------------------- time


def format_c1z_time(value: datetime) -> str:
    """Render a timestamp the way the SDK's writer does.

    Go layout ``2006-01-02 15:04:05.999999999``: local wall clock, no zone suffix,
    fractional seconds with trailing zeros dropped (and no dot for whole seconds).
    """
    if not isinstance(value, datetime):
        raise TypeError(f"expected a datetime, got {type(value).__name__}")
    if value.tzinfo is None:
        raise ValueError(f"c1z timestamps must be timezone-aware, got naive {value.isoformat()}")
    local = value.astimezone()
    text = local.strftime("%Y-%m-%d %H:%M:%S")
    if local.microsecond:
        text += "." + f"{local.microsecond:06d}".rstrip("0")
    return text


# --------------------------------------------------------------------------- encoding


def varint(value: int) -> bytes:
    """Protobuf base-128 varint of a non-negative int."""
    if value < 0:
        raise ValueError(f"varint of negative value {value}")
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def serialize(message: Message) -> bytes:
    """The deterministic encoding every ``data`` column holds (map keys sorted)."""
    return message.SerializeToString(deterministic=True)


def pack_any(message: Message) -> Any:
    """Wrap a message as google.protobuf.Any with the type.googleapis.com/ URL."""
    packed = any_pb2.Any()
    packed.Pack(message, type_url_prefix=TYPE_URL_PREFIX, deterministic=True)
    return packed


def _struct_from_json(text: str, what: str) -> Any:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise C1zInputError(f"{what}: profile is not valid JSON ({exc.msg})") from None
    if not isinstance(value, dict):
        raise C1zInputError(f"{what}: profile must be a JSON object, got {type(value).__name__}")
    struct = struct_pb2.Struct()
    try:
        struct.update(value)
    except (ValueError, TypeError) as exc:
        raise C1zInputError(f"{what}: profile cannot be represented as a Struct ({exc})") from None
    return struct


def resource_type_message(
    type_id: str, display_name: str | None, traits: Sequence[int] | None, description: str | None
) -> pb.ResourceType:
    msg = pb.ResourceType(id=type_id, display_name=display_name or "")
    msg.traits.extend(traits or ())
    if description:
        msg.description = description
    return msg


@dataclass(frozen=True, slots=True)
class ResourceRow:
    """One c1_resources row, in the column order the writer selects."""

    resource_type_id: str
    resource_id: str
    external_id: str
    parent_resource_type_id: str | None
    parent_resource_id: str | None
    display_name: str | None
    description: str | None
    trait: str | None
    user_status: int | None
    user_login: str | None
    user_email: str | None
    user_given_name: str | None
    user_family_name: str | None
    user_last_login: datetime | None
    user_created_at: datetime | None
    profile: str | None


RESOURCE_COLUMNS = tuple(ResourceRow.__dataclass_fields__)


_UNIX_EPOCH = datetime(1970, 1, 1)


def _set_timestamp(target: Any, value: datetime) -> None:
    """Fill a google.protobuf.Timestamp field from a DuckDB TIMESTAMP (naive, meaning UTC)."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    # Plain arithmetic: Timestamp.FromDatetime is several times slower per call.
    delta = value - _UNIX_EPOCH
    target.seconds = delta.days * 86400 + delta.seconds
    target.nanos = delta.microseconds * 1000


def _user_trait(row: ResourceRow, profile: Any | None) -> pb.UserTrait:
    trait = pb.UserTrait(account_type=pb.UserTrait.ACCOUNT_TYPE_HUMAN)
    if row.user_email:
        trait.emails.add(address=row.user_email, is_primary=True)
    if row.user_status:
        # Deprecated upstream in favour of Resource.status, still read by older consumers.
        trait.status.status = row.user_status
    if profile is not None:
        trait.profile.CopyFrom(profile)
    if row.user_login:
        trait.login = row.user_login
    if row.user_created_at is not None:
        _set_timestamp(trait.created_at, row.user_created_at)
    if row.user_last_login is not None:
        _set_timestamp(trait.last_login, row.user_last_login)
    if row.user_given_name or row.user_family_name:
        trait.structured_name.given_name = row.user_given_name or ""
        trait.structured_name.family_name = row.user_family_name or ""
    return trait


def resource_message(row: ResourceRow) -> pb.Resource:
    """Build the Resource a c1_resources row describes (traits ride as Any annotations)."""
    what = f"resource {row.external_id!r}"
    expected = ids.resource_external_id(row.resource_type_id, row.resource_id)
    if row.external_id != expected:
        raise C1zInputError(f"{what}: external_id must be {expected!r}")
    msg = pb.Resource()
    msg.id.resource_type = row.resource_type_id
    msg.id.resource = row.resource_id
    if row.parent_resource_type_id or row.parent_resource_id:
        if not (row.parent_resource_type_id and row.parent_resource_id):
            raise C1zInputError(f"{what}: parent type and parent id must both be set or both NULL")
        msg.parent_resource_id.resource_type = row.parent_resource_type_id
        msg.parent_resource_id.resource = row.parent_resource_id
    if row.display_name:
        msg.display_name = row.display_name
    if row.description:
        msg.description = row.description
    profile = _struct_from_json(row.profile, what) if row.profile else None
    if profile is not None:
        msg.profile.CopyFrom(profile)
    if row.user_status is not None:
        if row.user_status not in (1, 2, 3):
            raise C1zInputError(f"{what}: user_status must be 1, 2 or 3, got {row.user_status}")
        msg.status.status = row.user_status
    if row.user_created_at is not None:
        _set_timestamp(msg.created_at, row.user_created_at)
    if row.trait == "user":
        msg.annotations.append(pack_any(_user_trait(row, profile)))
    elif row.trait == "group":
        group = pb.GroupTrait()
        if profile is not None:
            group.profile.CopyFrom(profile)
        msg.annotations.append(pack_any(group))
    elif row.trait is not None:
        raise C1zInputError(f"{what}: trait must be 'user', 'group' or NULL, got {row.trait!r}")
    return msg


def entitlement_message(
    entitlement_id: str,
    resource_type_id: str,
    resource_id: str,
    resource_display_name: str | None,
    slug: str,
    display_name: str | None,
    description: str | None,
    purpose: int | None,
    grantable_to: Iterable[pb.ResourceType],
) -> pb.Entitlement:
    expected = ids.entitlement_id(resource_type_id, resource_id, slug)
    if entitlement_id != expected:
        raise C1zInputError(f"entitlement {entitlement_id!r}: id must be {expected!r}")
    msg = pb.Entitlement(
        resource=_embedded_resource(resource_type_id, resource_id, resource_display_name),
        id=entitlement_id,
        display_name=display_name or "",
        description=description or "",
        purpose=purpose or 0,
        slug=slug,
    )
    msg.grantable_to.extend(grantable_to)
    return msg


def _embedded_resource(type_id: str, resource_id: str, display_name: str | None) -> pb.Resource:
    res = pb.Resource(display_name=display_name or "")
    res.id.resource_type = type_id
    res.id.resource = resource_id
    return res


def grant_entitlement_field(
    entitlement_id: str, resource_type_id: str, resource_id: str, resource_display_name: str | None
) -> bytes:
    """Grant field 1 (tag, length, bytes): the entitlement a grant embeds.

    Like the Baton SDK's grant helpers: the entitlement's id and its resource (id and
    display name); the full entitlement lives in v1_entitlements.
    """
    ent = pb.Entitlement(
        resource=_embedded_resource(resource_type_id, resource_id, resource_display_name),
        id=entitlement_id,
    )
    body = serialize(ent)
    return b"\x0a" + varint(len(body)) + body


def grant_message(
    entitlement_id: str,
    resource_type_id: str,
    resource_id: str,
    resource_display_name: str | None,
    principal_type_id: str,
    principal_id: str,
    grant_id: str,
) -> pb.Grant:
    """The Grant the writer stores, built with the generated classes (reference for tests)."""
    msg = pb.Grant(id=grant_id)
    msg.entitlement.CopyFrom(
        pb.Entitlement(
            resource=_embedded_resource(resource_type_id, resource_id, resource_display_name),
            id=entitlement_id,
        )
    )
    msg.principal.id.resource_type = principal_type_id
    msg.principal.id.resource = principal_id
    return msg


def _sql_varint(n: str) -> str:
    # Up to 3 bytes (< 2 MiB); ids are capped at MAX_ID_BYTES, far below.
    return (
        f"(CASE WHEN {n} < 128 THEN encode(chr({n}::INTEGER))"
        f" WHEN {n} < 16384 THEN unhex(printf('%02x%02x', {n} % 128 + 128, {n} // 128))"
        f" ELSE unhex(printf('%02x%02x%02x', {n} % 128 + 128, ({n} // 128) % 128 + 128,"
        f" {n} // 16384)) END)"
    )


def _sql_field(tag: int, blob_column: str) -> str:
    """SQL for one length-delimited protobuf field: tag byte, varint length, bytes."""
    return (
        f"('\\x{tag:02x}'::BLOB || {_sql_varint(f'octet_length({blob_column})')}"
        f" || {blob_column})"
    )


# Each entitlement's encoded Grant field 1, in a temp table of the cursor that reads grants.
_ENT_FIELDS_TABLE = "c1z_entitlement_fields"

# Grant = entitlement(1) [pre-encoded per entitlement] + principal(2) + id(3), in field
# order, exactly as deterministic serialization lays them out. principal is
# Resource{id(1): ResourceId{resource_type(1), resource(2)}}. The columns are named as in
# v1_grants: the Arrow stream of this query is appended to it by column name.
_GRANTS_QUERY = f"""
SELECT resource_type_id, resource_id, entitlement_id,
       principal_type_id AS principal_resource_type_id,
       principal_id AS principal_resource_id, grant_id AS external_id,
       ent_field || {_sql_field(0x12, "principal")} || {_sql_field(0x1A, "gid")} AS data,
       $sync_id AS sync_id, $discovered_at AS discovered_at
FROM (
  SELECT *, {_sql_field(0x0A, "rid")} AS principal
  FROM (
    SELECT *, {_sql_field(0x0A, "pt")} || {_sql_field(0x12, "pid")} AS rid
    FROM (
      SELECT g.resource_type_id, g.resource_id, g.entitlement_id, g.principal_type_id,
             g.principal_id, g.grant_id, e.ent_field,
             encode(g.principal_type_id) AS pt, encode(g.principal_id) AS pid,
             encode(g.grant_id) AS gid
      FROM c1_grants g
      JOIN {_ENT_FIELDS_TABLE} e ON g.entitlement_id = e.entitlement_id
      WHERE {{where}}
    )
  )
)
ORDER BY grant_id
"""


# --------------------------------------------------------------------------- summary


@dataclass(frozen=True)
class C1zSummary:
    """What write_c1z produced."""

    path: Path
    sync_id: str
    counts: dict[str, int]
    size_bytes: int
    sqlite_bytes: int
    sha256: str
    # Per stage; "indexes" runs in the background alongside "resources", so they overlap.
    stage_seconds: dict[str, float]
    # Wall-clock seconds for the whole write.
    seconds: float = 0.0

    @property
    def sha256_bytes(self) -> bytes:
        """Raw 32-byte digest, as UploadAsset's eof.sha256_checksum wants it."""
        return bytes.fromhex(self.sha256)

    @property
    def total_seconds(self) -> float:
        return self.seconds


@contextlib.contextmanager
def _stage(stages: dict[str, float], name: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        stages[name] = stages.get(name, 0.0) + time.perf_counter() - start


# --------------------------------------------------------------------------- input checks

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


def _count_rows(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
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


def _validate_grants(con: duckdb.DuckDBPyConnection) -> None:
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


def _check_not_null(con: duckdb.DuckDBPyConnection, table: str, key: str) -> None:
    bad = _first_row(con, f"SELECT count(*) FROM {table} WHERE {key} IS NULL OR {key} = ''")
    if bad is not None and bad[0]:
        raise C1zInputError(f"{table} has {bad[0]} row(s) with an empty or NULL {key}")


def _duplicate_key(con: duckdb.DuckDBPyConnection, table: str, key: str) -> str | None:
    row = _first_row(
        con, f"SELECT {key} FROM {table} GROUP BY {key} HAVING count(*) > 1 ORDER BY {key} LIMIT 1"
    )
    return None if row is None else str(row[0])


# --------------------------------------------------------------------------- partitioned reads


def _partition_bounds(
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


def _grant_partitions(
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
    for low, high in _partition_bounds(con, table, "grant_id", n_rows, partition_rows):
        where, params = _range_where("g.grant_id", low, high)
        slices.append((f"g.entitlement_id = $entitlement AND {where}",
                       {**params, "entitlement": entitlement_id}))
    return slices


def _range_where(column: str, low: str | None, high: str | None) -> tuple[str, dict[str, str]]:
    clauses: list[str] = []
    params: dict[str, str] = {}
    if low is not None:
        clauses.append(f"{column} >= $low")
        params["low"] = low
    if high is not None:
        clauses.append(f"{column} < $high")
        params["high"] = high
    return (" AND ".join(clauses) or "TRUE"), params


def _stream(
    con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any], batch_rows: int
) -> Iterator[list[tuple[Any, ...]]]:
    con.execute(sql, params)
    while True:
        batch = con.fetchmany(batch_rows)
        if not batch:
            return
        yield batch


_SQLITE_BUILD_PRAGMAS = (
    # A throwaway build file: no journal, no fsync; the finished file is compressed and
    # renamed into place only after everything succeeded.
    "PRAGMA journal_mode = OFF",
    "PRAGMA synchronous = OFF",
    "PRAGMA locking_mode = EXCLUSIVE",
    f"PRAGMA cache_size = -{_SQLITE_CACHE_KIB}",
    "PRAGMA temp_store = FILE",
    f"PRAGMA threads = {min(4, os.cpu_count() or 1)}",
)


@contextlib.contextmanager
def _adbc_sqlite(db_path: Path, doing: str) -> Iterator[adbc.AdbcConnection]:
    """An ADBC connection to the SQLite build file, with the build pragmas.

    ADBC's SQLite driver bundles a newer SQLite than Python's sqlite3 module, which also
    builds the grant indexes faster (9.6-10.3 s against 11.5-13.6 s on the large tenant's
    4.1M grants), and it releases the GIL while a statement runs. Its errors become
    C1zError naming `doing`; IntegrityError passes through for the caller to explain.
    """
    # Absolute: the driver would read a path starting with "file:" as a URI.
    database = adbc_driver_sqlite.connect(str(db_path.resolve()))
    try:
        conn = adbc.AdbcConnection(database)
        try:
            for pragma in _SQLITE_BUILD_PRAGMAS:
                _adbc_execute(conn, pragma)
            yield conn
        finally:
            conn.close()
    except adbc.IntegrityError:
        raise
    except adbc.Error as exc:
        raise C1zError(f"{doing} of the c1z's SQLite file failed: {exc}") from exc
    finally:
        database.close()


def _adbc_execute(conn: adbc.AdbcConnection, sql: str) -> None:
    with contextlib.closing(adbc.AdbcStatement(conn)) as stmt:
        stmt.set_sql_query(sql)
        stmt.execute_update()


def _append_arrow_streams(db_path: Path, table: str, streams: Iterable[Any]) -> int:
    """Append Arrow C streams to `table` of the SQLite file, in one transaction.

    ADBC's SQLite driver binds each row straight from the Arrow arrays in C, so millions
    of grants cost no Python object each (the sqlite3 module's executemany spent most of
    its time building and binding those). It holds the GIL only between streams. Returns
    the rows appended.
    """
    with _adbc_sqlite(db_path, f"appending rows to {table}") as conn:
        conn.set_autocommit(False)
        appended = 0
        for stream in streams:
            with contextlib.closing(adbc.AdbcStatement(conn)) as stmt:
                stmt.set_options(**{adbc.INGEST_OPTION_TARGET_TABLE: table,
                                    adbc.INGEST_OPTION_MODE: adbc.INGEST_OPTION_MODE_APPEND})
                stmt.bind_stream(stream)
                appended += stmt.execute_update()
        conn.commit()
    return appended


# --------------------------------------------------------------------------- writer


class _Writer:
    """One write_c1z call: a temp SQLite file filled from the DuckDB connection."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        sync_id: str,
        discovered_at: str,
        partition_rows: int,
        batch_rows: int,
    ) -> None:
        self.con = con
        self.sync_id = sync_id
        self.discovered_at = discovered_at
        self.partition_rows = partition_rows
        self.batch_rows = batch_rows
        # Both are validated (KSUID / our own formatter), so they can be SQL literals,
        # which saves binding two parameters on every row.
        self.consts = f"'{sync_id}', '{discovered_at}'"
        self.resource_types: dict[str, pb.ResourceType] = {}
        self.counts: dict[str, int] = {}

    def _insert(
        self,
        db: sqlite3.Connection,
        table: str,
        columns: Sequence[str],
        rows: Iterable[Sequence[Any]],
    ) -> int:
        marks = ", ".join("?" * len(columns))
        sql = (
            f"INSERT INTO {table} ({', '.join(columns)}, sync_id, discovered_at)"
            f" VALUES ({marks}, {self.consts})"
        )
        before = db.total_changes
        db.executemany(sql, rows)
        return db.total_changes - before

    def write_resource_types(self, db: sqlite3.Connection) -> None:
        rows = self.con.execute(
            "SELECT resource_type_id, display_name, traits, description FROM c1_resource_types"
            " ORDER BY resource_type_id"
        ).fetchall()
        out = []
        for type_id, display_name, traits, description in rows:
            if not type_id or ":" in type_id:
                raise C1zInputError(
                    f"c1_resource_types has an invalid resource_type_id {type_id!r}"
                )
            msg = resource_type_message(type_id, display_name, traits, description)
            self.resource_types[type_id] = msg
            out.append((type_id, serialize(msg)))
        self.counts["resource_types"] = self._insert(
            db, "v1_resource_types", ("external_id", "data"), out
        )

    def _ranged(
        self, table: str, key: str, select: str, batch_rows: int | None = None
    ) -> Iterator[list[tuple[Any, ...]]]:
        """Stream `select` (with a {where} slot) in sorted key-range partitions of `table`.

        `key` may carry the select's table alias ("e.entitlement_id"); the sample is
        drawn on the bare column.
        """
        column = key.rsplit(".", 1)[-1]
        n_rows = self.con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # type: ignore[index]
        rows = min(self.partition_rows, _RESOURCE_PARTITION_ROWS)
        for low, high in _partition_bounds(self.con, table, column, n_rows, rows):
            where, params = _range_where(key, low, high)
            sql = select.replace("{where}", where)
            yield from _stream(self.con, sql, params, batch_rows or self.batch_rows)

    def write_resources(self, db: sqlite3.Connection) -> None:
        """Encode c1_resources into v1_resources of `db` (a side file, see write_c1z)."""
        select = (
            f"SELECT {', '.join(RESOURCE_COLUMNS)} FROM c1_resources WHERE {{where}}"
            " ORDER BY external_id"
        )
        known = self.resource_types
        total = 0
        batch_rows = max(1, self.batch_rows // _RESOURCE_BATCH_DIVISOR)
        for batch in self._ranged("c1_resources", "external_id", select, batch_rows):
            out = []
            for raw in batch:
                row = ResourceRow(*raw)
                if row.resource_type_id not in known:
                    raise C1zInputError(
                        f"resource {row.external_id!r} has resource type {row.resource_type_id!r}"
                        " which is not in c1_resource_types"
                    )
                out.append(
                    (
                        row.resource_type_id,
                        row.external_id,
                        row.parent_resource_type_id,
                        row.parent_resource_id,
                        serialize(resource_message(row)),
                    )
                )
            total += self._insert(
                db,
                "v1_resources",
                (
                    "resource_type_id",
                    "external_id",
                    "parent_resource_type_id",
                    "parent_resource_id",
                    "data",
                ),
                out,
            )
        self.counts["resources"] = total

    def write_entitlements(self, db: sqlite3.Connection) -> tuple[list[str], list[bytes]]:
        """Write v1_entitlements; return each entitlement's pre-encoded grant field 1."""
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
        ent_ids: list[str] = []
        ent_fields: list[bytes] = []
        seen: set[str] = set()
        total = 0
        for batch in self._ranged("c1_entitlements", "e.entitlement_id", select):
            out = []
            for eid, rtype, rid, res_name, slug, name, desc, purpose, grantable in batch:
                grantable_types = []
                for type_id in grantable or ():
                    if type_id not in self.resource_types:
                        raise C1zInputError(
                            f"entitlement {eid!r} is grantable to {type_id!r},"
                            " which is not in c1_resource_types"
                        )
                    grantable_types.append(self.resource_types[type_id])
                if eid in seen:
                    raise C1zInputError(f"c1_entitlements has duplicate entitlement_id {eid!r}")
                seen.add(eid)
                msg = entitlement_message(
                    eid, rtype, rid, res_name, slug, name, desc, purpose, grantable_types
                )
                out.append((rtype, rid, eid, serialize(msg)))
                ent_ids.append(eid)
                ent_fields.append(grant_entitlement_field(eid, rtype, rid, res_name))
            total += self._insert(
                db,
                "v1_entitlements",
                ("resource_type_id", "resource_id", "external_id", "data"),
                out,
            )
        self.counts["entitlements"] = total
        return ent_ids, ent_fields

    def write_grants(self, db_path: Path, ent_ids: list[str], ent_fields: list[bytes]) -> None:
        """Append every grant to v1_grants of the (closed) SQLite file at `db_path`.

        Each partition is sorted and encoded by DuckDB and handed over as one Arrow
        stream. Two cursors take turns: one sorts the next partition in a thread while
        SQLite appends the other's (both release the GIL). On the large tenant's staging
        file the grants took 12 s this way against 18 s one after the other.
        """
        partitions = _grant_partitions(self.con, self.partition_rows)
        constants = {"sync_id": self.sync_id, "discovered_at": self.discovered_at}
        cursors = [self._grant_cursor(ent_ids, ent_fields) for _ in range(2)]

        def open_stream(n: int, where: str, params: dict[str, str]) -> Any:
            sql = _GRANTS_QUERY.replace("{where}", where)
            return cursors[n % 2].sql(sql, params={**params, **constants}).__arrow_c_stream__()

        def streams() -> Iterator[Any]:
            with concurrent.futures.ThreadPoolExecutor(1, "c1z-sort") as pool:
                pending = pool.submit(open_stream, 0, *partitions[0])
                for n, later in enumerate([*partitions[1:], None], start=1):
                    stream = pending.result()
                    # The other cursor's stream has been appended whole by now.
                    if later is not None:
                        pending = pool.submit(open_stream, n, *later)
                    yield stream

        appending = streams()
        try:
            self.counts["grants"] = _append_arrow_streams(db_path, "v1_grants", appending)
        finally:
            appending.close()  # first waits for a partition still being sorted
            for cursor in cursors:
                cursor.close()

    def _grant_cursor(self, ent_ids: list[str], ent_fields: list[bytes]
                      ) -> duckdb.DuckDBPyConnection:
        # A temp table per cursor (a cursor sees only its own): passed to every partition's
        # query as list parameters instead, the 11,000 entitlements of the large tenant
        # cost ~4 s of binding and unnesting over its ~100 partitions.
        cursor = self.con.cursor()
        cursor.execute(
            f"CREATE TEMP TABLE {_ENT_FIELDS_TABLE} AS SELECT"
            " unnest($ids::VARCHAR[]) AS entitlement_id, unnest($fields::BLOB[]) AS ent_field",
            {"ids": ent_ids, "fields": ent_fields})
        return cursor

    def write_sync_run(self, db: sqlite3.Connection, started_at: str, ended_at: str) -> None:
        # A finished full sync; grants carry no expansion data, so nothing needs backfill
        # and the SQL-level expansion columns are complete (supports_diff).
        db.execute(
            "INSERT INTO v1_sync_runs (sync_id, started_at, ended_at, sync_token, sync_type,"
            " parent_sync_id, linked_sync_id, supports_diff, grants_backfilled)"
            " VALUES (?, ?, ?, '', 'full', '', '', 1, 1)",
            (self.sync_id, started_at, ended_at),
        )

    def duplicate_error(self, ddl: str) -> C1zInputError:
        """Name a duplicate key behind a failed UNIQUE index (asks DuckDB for one)."""
        source = {
            "v1_resource_types": ("c1_resource_types", "resource_type_id"),
            "v1_resources": ("c1_resources", "external_id"),
            "v1_entitlements": ("c1_entitlements", "entitlement_id"),
            "v1_grants": ("c1_grants", "grant_id"),
        }
        table = _index_table(ddl)
        src_table, key = source.get(table, (table, "external_id"))
        dup = _duplicate_key(self.con, src_table, key) if table in source else None
        example = f", e.g. {dup!r}" if dup is not None else ""
        return C1zInputError(f"{src_table} has duplicate {key} values{example}")


class _DuplicateKeys(Exception):
    """A UNIQUE index could not be built; carries the DDL so the caller can name a key."""

    def __init__(self, ddl: str) -> None:
        super().__init__(ddl)
        self.ddl = ddl


def _index_table(ddl: str) -> str:
    return ddl.split(" ON ", 1)[1].split(" ", 1)[0]


def _build_indexes(execute: Callable[[str], Any], tables: Iterable[str],
                   stop: threading.Event | None = None) -> None:
    """Every index of `tables` not made with the empty tables, through `execute`."""
    wanted = set(tables)
    for ddl in _INDEXES_DDL:
        if _index_table(ddl) not in wanted or ddl in _UPFRONT_INDEXES_DDL:
            continue
        if stop is not None and stop.is_set():
            return
        try:
            execute(ddl)
        except (sqlite3.IntegrityError, adbc.IntegrityError):
            raise _DuplicateKeys(ddl) from None


def _build_indexes_apart(db_path: Path, tables: Iterable[str], stop: threading.Event) -> None:
    """The indexes of `tables`, on an ADBC connection of their own (see `_adbc_sqlite`)."""
    with _adbc_sqlite(db_path, "building indexes") as conn:
        _build_indexes(lambda ddl: _adbc_execute(conn, ddl), tables, stop)


class _Background:
    """Run one job in a thread (SQLite releases the GIL while a statement runs).

    Exiting the context waits for it and re-raises its exception. If the body failed,
    the job is told to stop; it does so between statements (ADBC's SQLite driver cannot
    interrupt one), so cleanup waits for at most one index build.
    """

    def __init__(self, job: Callable[[threading.Event], None]) -> None:
        self._job = job
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self.seconds = 0.0
        self._thread = threading.Thread(target=self._run, name="c1z-sqlite", daemon=True)

    def _run(self) -> None:
        start = time.perf_counter()
        try:
            self._job(self._stop)
        except BaseException as exc:  # re-raised by __exit__ in the owning thread
            self._error = exc
        finally:
            self.seconds = time.perf_counter() - start

    def __enter__(self) -> _Background:
        self._thread.start()
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is not None:
            self._stop.set()
        self._thread.join()
        if exc_type is None and self._error is not None:
            raise self._error


def _open_sqlite(path: Path, *, create: bool = False) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None)
    if create:
        db.execute(f"PRAGMA page_size = {_SQLITE_PAGE_SIZE}")
    for pragma in _SQLITE_BUILD_PRAGMAS:
        db.execute(pragma)
    if create:
        for ddl in (*_TABLES_DDL, *_UPFRONT_INDEXES_DDL):
            db.execute(ddl)
    return db


class _HashingWriter:
    """File writer that hashes everything written through it."""

    def __init__(self, fh: BinaryIO) -> None:
        self.fh = fh
        self.hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.hash.update(data)
        self.size += len(data)
        return self.fh.write(data)

    def flush(self) -> None:
        self.fh.flush()


def _compress(db_path: Path, out_path: Path, level: int) -> tuple[int, str]:
    """Magic + one zstd frame (with content size) of the SQLite file; returns (size, sha256)."""
    db_size = db_path.stat().st_size
    compressor = zstandard.ZstdCompressor(level=level, threads=-1, write_content_size=True)
    with db_path.open("rb") as src, out_path.open("wb") as raw:
        out = _HashingWriter(raw)
        out.write(MAGIC)
        compressor.copy_stream(src, out, size=db_size, read_size=1 << 20, write_size=1 << 20)
        raw.flush()
        os.fsync(raw.fileno())
    return out.size, out.hash.hexdigest()


def _create_empty(path: Path, mode: int) -> None:
    """An empty file with exactly `mode` (whatever the umask), before a byte is written."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode))
    os.chmod(path, mode)


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


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
) -> C1zSummary:
    """Write the c1_* tables of `con` as one finished full sync to a version-1 c1z at `dest`.

    Atomic: everything is built in a temp dir next to `dest` and renamed into place at
    the end; on any error nothing is left at `dest` (an existing file there is kept) and
    the temp dir is removed. `discovered_at` (default `ended_at`) stamps every record.
    Timestamps must be timezone-aware; the file holds them as local wall-clock text like
    the SDK does. The file gets `file_mode` (default LITMOS_FILE_MODE), and its folder and
    the c1z files already in it lose any permission beyond that.
    """
    dest = Path(dest)
    if not is_ksuid(sync_id):
        raise C1zInputError(f"sync_id must be a 27-character KSUID, got {sync_id!r}")
    started, ended = format_c1z_time(started_at), format_c1z_time(ended_at)
    if ended_at < started_at:
        raise C1zInputError(f"ended_at {ended} is before started_at {started}")
    discovered = format_c1z_time(discovered_at or ended_at)
    if not dest.parent.is_dir():
        raise C1zError(f"c1z destination directory {dest.parent} does not exist")
    mode = files.file_mode() if file_mode is None else file_mode
    files.private_dir(dest.parent, mode, pattern="*.c1z")

    stages: dict[str, float] = {}
    wall_start = time.perf_counter()
    tmp_dir = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent))
    try:
        db_path = tmp_dir / "sync.db"
        with _stage(stages, "validate"):
            source_counts = _count_rows(con)
            _check_not_null(con, "c1_resources", "external_id")
            _check_not_null(con, "c1_entitlements", "entitlement_id")
            _validate_grants(con)
        writer = _Writer(con, sync_id, discovered, partition_rows, batch_rows)
        _load_records(writer, db_path, tmp_dir / "resources.db", started, ended, stages)
        _check_counts(source_counts, writer.counts)
        sqlite_bytes = db_path.stat().st_size
        out_path = tmp_dir / "sync.c1z"
        with _stage(stages, "compress"):
            _create_empty(out_path, mode)
            size, digest = _compress(db_path, out_path, zstd_level)
        with _stage(stages, "finalize"):
            os.replace(out_path, dest)
            _fsync_dir(dest.parent)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    return C1zSummary(
        path=dest,
        sync_id=sync_id,
        counts=dict(writer.counts),
        size_bytes=size,
        sqlite_bytes=sqlite_bytes,
        sha256=digest,
        stage_seconds={k: round(v, 4) for k, v in stages.items()},
        seconds=round(time.perf_counter() - wall_start, 4),
    )


def _load_records(
    writer: _Writer,
    db_path: Path,
    side_path: Path,
    started: str,
    ended: str,
    stages: dict[str, float],
) -> None:
    """Create the SQLite file at `db_path`, fill every table and build every index.

    The small tables go in through the sqlite3 module; the grants through ADBC's SQLite
    driver, which needs the file to itself (both connections lock it exclusively). The
    grant indexes (GIL-free SQLite work, seconds at scale) are then built in a background
    thread while this thread encodes resources (Python work) into a side file, which is
    copied in with one INSERT ... SELECT.
    """
    with contextlib.closing(_open_sqlite(db_path, create=True)) as db:
        db.execute("BEGIN")
        with _stage(stages, "resource_types"):
            writer.write_sync_run(db, started, ended)
            writer.write_resource_types(db)
        with _stage(stages, "entitlements"):
            ent_ids, ent_fields = writer.write_entitlements(db)
        db.execute("COMMIT")
    with _stage(stages, "grants"):
        writer.write_grants(db_path, ent_ids, ent_fields)
    try:
        # The big DuckDB reads are over: let its buffer pool go, so SQLite's index sorter
        # and zstd do not stack on top of it (resources are a few MB a partition).
        with _memory_limit(writer.con, _LATE_MEMORY_LIMIT):
            _load_resources_and_index(writer, db_path, side_path, stages)
    except _DuplicateKeys as dup:
        raise writer.duplicate_error(dup.ddl) from None


@contextlib.contextmanager
def _memory_limit(con: duckdb.DuckDBPyConnection, limit: str) -> Iterator[None]:
    before = con.execute("SELECT current_setting('memory_limit')").fetchone()[0]  # type: ignore[index]
    con.execute(f"SET memory_limit = '{limit}'")
    try:
        yield
    finally:
        con.execute(f"SET memory_limit = '{before}'")


def _load_resources_and_index(writer: _Writer, db_path: Path, side_path: Path,
                              stages: dict[str, float]) -> None:
    other_tables = [t for t in _TABLE_NAMES if t != "v1_resources"]
    with _Background(lambda stop: _build_indexes_apart(db_path, other_tables, stop)) as indexing:
        with _stage(stages, "resources"):
            with contextlib.closing(_open_sqlite(side_path, create=True)) as side:
                side.execute("BEGIN")
                writer.write_resources(side)
                side.execute("COMMIT")
    stages["indexes"] = indexing.seconds
    with _stage(stages, "merge_resources"), contextlib.closing(_open_sqlite(db_path)) as db:
        columns = ", ".join(_RESOURCE_TABLE_COLUMNS)
        db.execute("ATTACH DATABASE ? AS side", (str(side_path),))
        db.execute("BEGIN")
        db.execute(
            f"INSERT INTO v1_resources ({columns})"
            f" SELECT {columns} FROM side.v1_resources ORDER BY id"
        )
        db.execute("COMMIT")
        db.execute("DETACH DATABASE side")
        _build_indexes(db.execute, ["v1_resources"])


def _check_counts(source: dict[str, int], written: dict[str, int]) -> None:
    # Guards the partitioned reads: every source row must land exactly once.
    pairs = {
        "c1_resource_types": "resource_types",
        "c1_resources": "resources",
        "c1_entitlements": "entitlements",
        "c1_grants": "grants",
    }
    for table, name in pairs.items():
        if source[table] != written.get(name):
            raise C1zError(
                f"wrote {written.get(name)} {name} but {table} holds {source[table]} rows"
            )


# --------------------------------------------------------------------------- reader


@dataclass(frozen=True)
class SyncRun:
    """One v1_sync_runs row (timestamps as stored text)."""

    sync_id: str
    started_at: str
    ended_at: str | None
    sync_token: str
    sync_type: str
    parent_sync_id: str
    linked_sync_id: str

    @property
    def finished(self) -> bool:
        return self.ended_at is not None


_RECORD_CLASSES: dict[str, type[Message]] = {
    "v1_resource_types": pb.ResourceType,
    "v1_resources": pb.Resource,
    "v1_entitlements": pb.Entitlement,
    "v1_grants": pb.Grant,
}


@dataclass
class C1zContents:
    """A decompressed c1z opened for reading; close() (or `with`) removes the temp copy.

    Record iterators yield (external_id, decoded message) for `sync_id` (by default the
    newest finished sync, as the SDK's readers pick it), ordered by external id.
    """

    path: Path
    sync_runs: list[SyncRun]
    sync_id: str
    _db: sqlite3.Connection = field(repr=False)
    _tmp_dir: Path = field(repr=False)

    def __enter__(self) -> C1zContents:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()
        shutil.rmtree(self._tmp_dir, ignore_errors=True)

    def raw_records(
        self, table: str, where: str = "", params: Sequence[Any] = ()
    ) -> Iterator[tuple[str, bytes]]:
        """(external_id, encoded data) of one v1_* record table, in external id order."""
        if table not in _RECORD_CLASSES:
            raise ValueError(f"not a c1z record table: {table!r}")
        sql = (
            f"SELECT external_id, data FROM {table} WHERE sync_id = ? {where}"
            " ORDER BY external_id"
        )
        try:
            yield from self._db.execute(sql, (self.sync_id, *params))
        except sqlite3.DatabaseError as exc:
            raise C1zFormatError(f"{self.path}: corrupt c1z database ({exc})") from None

    def _records(self, table: str, where: str = "", params: Sequence[Any] = ()) -> Iterator[Any]:
        cls = _RECORD_CLASSES[table]
        for external_id, data in self.raw_records(table, where, params):
            msg = cls()
            try:
                msg.ParseFromString(data)
            except Exception as exc:  # protobuf raises DecodeError (a Message.Error)
                raise C1zFormatError(
                    f"{self.path}: {table} row {external_id!r} holds undecodable data ({exc})"
                ) from None
            yield external_id, msg

    def resource_types(self) -> Iterator[tuple[str, pb.ResourceType]]:
        return self._records("v1_resource_types")

    def resources(self, resource_type_id: str | None = None) -> Iterator[tuple[str, pb.Resource]]:
        if resource_type_id is None:
            return self._records("v1_resources")
        return self._records("v1_resources", "AND resource_type_id = ?", (resource_type_id,))

    def entitlements(self) -> Iterator[tuple[str, pb.Entitlement]]:
        return self._records("v1_entitlements")

    def grants(self) -> Iterator[tuple[str, pb.Grant]]:
        return self._records("v1_grants")

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for table in RECORD_TABLES:
            row = self._db.execute(
                f"SELECT count(*) FROM {table} WHERE sync_id = ?", (self.sync_id,)
            ).fetchone()
            out[table.removeprefix("v1_")] = int(row[0])
        return out

    def counts_by_resource_type(self) -> dict[str, dict[str, int]]:
        """Per resource type: resources, entitlements and grants (by entitlement resource)."""
        out: dict[str, dict[str, int]] = {}
        for table, name in (
            ("v1_resources", "resources"),
            ("v1_entitlements", "entitlements"),
            ("v1_grants", "grants"),
        ):
            rows = self._db.execute(
                f"SELECT resource_type_id, count(*) FROM {table} WHERE sync_id = ?"
                " GROUP BY resource_type_id ORDER BY resource_type_id",
                (self.sync_id,),
            )
            for type_id, n in rows:
                out.setdefault(type_id, {"resources": 0, "entitlements": 0, "grants": 0})[name] = n
        return out


def _decompress(src: BinaryIO, dst: BinaryIO, path: Path, max_decoded_bytes: int) -> int:
    """Stream every zstd frame after the magic into dst; refuse truncated or oversized data."""
    dctx = zstandard.ZstdDecompressor(max_window_size=MAX_WINDOW_BYTES)
    dobj = dctx.decompressobj()
    written = 0
    pending = b""
    try:
        while True:
            chunk = pending or src.read(1 << 20)
            pending = b""
            if not chunk:
                break
            out = dobj.decompress(chunk)
            written += len(out)
            if written > max_decoded_bytes:
                raise C1zFormatError(
                    f"{path}: decoded size exceeds the limit of {max_decoded_bytes} bytes"
                )
            dst.write(out)
            if dobj.eof:
                pending = dobj.unused_data
                if not pending:
                    pending = src.read(1 << 20)
                    if not pending:
                        return written
                dobj = dctx.decompressobj()
    except zstandard.ZstdError as exc:
        raise C1zFormatError(f"{path}: corrupt c1z, the zstd stream is damaged ({exc})") from None
    if written == 0:
        raise C1zFormatError(f"{path}: corrupt c1z, no compressed data after the magic")
    raise C1zFormatError(f"{path}: corrupt c1z, the zstd stream is truncated")


def _check_magic(fh: BinaryIO, path: Path) -> None:
    magic = fh.read(len(MAGIC))
    if magic == MAGIC:
        return
    if magic == MAGIC_V3:
        raise C1zFormatError(
            f"{path}: this is a v3 c1z (magic C1Z3); only version 1 (C1ZF) is supported"
        )
    raise C1zFormatError(f"{path}: not a c1z file (expected magic {MAGIC!r}, found {magic!r})")


def _load_sync_runs(db: sqlite3.Connection) -> list[SyncRun]:
    rows = db.execute(
        "SELECT sync_id, started_at, ended_at, sync_token, sync_type, parent_sync_id,"
        " linked_sync_id FROM v1_sync_runs ORDER BY id"
    ).fetchall()
    return [SyncRun(*(None if v is None else str(v) for v in row)) for row in rows]  # type: ignore[arg-type]


def _newest_finished(runs: Sequence[SyncRun]) -> SyncRun | None:
    finished = [r for r in runs if r.finished]
    return max(finished, key=lambda r: (r.ended_at, r.sync_id), default=None)


def read_c1z(
    path: Path | str,
    *,
    sync_id: str | None = None,
    work_dir: Path | str | None = None,
    max_decoded_bytes: int = DEFAULT_MAX_DECODED_BYTES,
) -> C1zContents:
    """Open a version-1 c1z: check the magic, decompress to a temp SQLite file, load sync runs.

    Raises C1zFormatError for a wrong magic, damaged or truncated zstd data, a payload that
    is not a SQLite database with the v1 tables, or no finished sync (unless `sync_id`).
    """
    path = Path(path)
    tmp_dir = Path(tempfile.mkdtemp(prefix="c1z-read-", dir=work_dir))
    db: sqlite3.Connection | None = None
    try:
        db_path = tmp_dir / "sync.db"
        try:
            src_fh = path.open("rb")
        except OSError as exc:
            raise C1zFormatError(f"{path}: cannot open c1z ({exc.strerror})") from None
        with src_fh as src, db_path.open("wb") as dst:
            _check_magic(src, path)
            _decompress(src, dst, path, max_decoded_bytes)
        with db_path.open("rb") as fh:
            if fh.read(len(SQLITE_HEADER)) != SQLITE_HEADER:
                raise C1zFormatError(f"{path}: corrupt c1z, the payload is not a SQLite database")
        db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
        try:
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            missing = [t for t in (*RECORD_TABLES, "v1_sync_runs") if t not in tables]
            if missing:
                raise C1zFormatError(
                    f"{path}: not a version-1 c1z, missing table(s) {', '.join(missing)}"
                )
            runs = _load_sync_runs(db)
        except sqlite3.DatabaseError as exc:
            raise C1zFormatError(f"{path}: corrupt c1z database ({exc})") from None
        if sync_id is None:
            newest = _newest_finished(runs)
            if newest is None:
                raise C1zFormatError(f"{path}: the c1z holds no finished sync")
            sync_id = newest.sync_id
        elif sync_id not in {r.sync_id for r in runs}:
            raise C1zFormatError(f"{path}: no sync {sync_id!r} in this c1z")
        return C1zContents(path=path, sync_runs=runs, sync_id=sync_id, _db=db, _tmp_dir=tmp_dir)
    except BaseException:
        if db is not None:
            db.close()
        shutil.rmtree(tmp_dir, ignore_errors=True)
        raise


# --------------------------------------------------------------------------- CLI


def _trait_names(annotations: Iterable[Any]) -> str:
    names = [a.type_url.rsplit(".", 1)[-1] for a in annotations if a.type_url]
    return ",".join(names)


def _cmd_stats(c: C1zContents, out: Callable[[str], None]) -> None:
    for run in c.sync_runs:
        marker = "*" if run.sync_id == c.sync_id else " "
        out(
            f"{marker} sync {run.sync_id} type={run.sync_type} started={run.started_at}"
            f" ended={run.ended_at or '(unfinished)'}"
        )
    for name, n in c.counts().items():
        out(f"{name}\t{n}")
    for type_id, by_kind in c.counts_by_resource_type().items():
        out(
            f"  {type_id}\tresources={by_kind['resources']}"
            f"\tentitlements={by_kind['entitlements']}\tgrants={by_kind['grants']}"
        )


def _cmd_resources(c: C1zContents, out: Callable[[str], None]) -> None:
    for external_id, res in c.resources():
        out(f"{external_id}\t{res.display_name}\t{_trait_names(res.annotations)}")


def _cmd_entitlements(c: C1zContents, out: Callable[[str], None]) -> None:
    for external_id, ent in c.entitlements():
        purpose = pb.Entitlement.PurposeValue.Name(ent.purpose)
        out(f"{external_id}\t{ent.display_name}\t{purpose}")


def _cmd_grants(c: C1zContents, out: Callable[[str], None]) -> None:
    for external_id, grant in c.grants():
        principal = grant.principal.id
        out(
            f"{external_id}\t{grant.entitlement.id}"
            f"\t{principal.resource_type}:{principal.resource}"
        )


_COMMANDS: dict[str, Callable[[C1zContents, Callable[[str], None]], None]] = {
    "stats": _cmd_stats,
    "resources": _cmd_resources,
    "entitlements": _cmd_entitlements,
    "grants": _cmd_grants,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m litmos_pipeline.c1.c1z", description="Inspect a version-1 c1z file."
    )
    parser.add_argument("command", choices=sorted(_COMMANDS))
    parser.add_argument("file", type=Path)
    parser.add_argument("--sync-id", help="sync to show (default: newest finished)")
    args = parser.parse_args(argv)
    try:
        with read_c1z(args.file, sync_id=args.sync_id) as contents:
            _COMMANDS[args.command](contents, print)
    except C1zError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # `... grants FILE | head` closes stdout early; that is not an error.
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
