"""The c1z format: magic, size limits, the SQLite tables and indexes, timestamp text."""

from __future__ import annotations

from datetime import datetime

MAGIC = b"C1ZF\x00"
MAGIC_V3 = b"C1Z3\x00"
SQLITE_HEADER = b"SQLite format 3\x00"


# The Baton SDK's decoder refuses zstd windows above 128 MiB and decoded files above 10 GiB.
MAX_WINDOW_BYTES = 128 * 1024 * 1024
DEFAULT_MAX_DECODED_BYTES = 10 * 1024**3

# Upstream validation caps ids at 1024 bytes; C1 rejects longer ones.
MAX_ID_BYTES = 1024


# Same tables, columns, constraints and index names as the Baton SDK's v1 writer after
# all its migrations, so the SDK finds nothing to migrate when it opens the file.

TABLES_DDL = (
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
INDEXES_DDL = (
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
UPFRONT_INDEXES_DDL = tuple(ddl for ddl in INDEXES_DDL if " WHERE " in ddl)

RECORD_TABLES = ("v1_resource_types", "v1_resources", "v1_entitlements", "v1_grants")
TABLE_NAMES = tuple(ddl.split()[2] for ddl in TABLES_DDL)
RESOURCE_TABLE_COLUMNS = (
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
