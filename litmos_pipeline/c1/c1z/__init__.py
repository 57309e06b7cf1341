"""c1z version-1 files: the writer (a C1 model -> .c1z) and a reader.

A c1z is the 5-byte magic ``C1ZF\\x00`` followed by one zstd stream of a SQLite database
laid out as the Baton SDK's dotc1z package lays it out (tables v1_resource_types,
v1_resources, v1_entitlements, v1_grants, v1_sync_runs, v1_assets,
v1_connector_sessions; same columns, NOT NULLs, defaults and index names), holding one
finished ``full`` sync. Each record's ``data`` column is the deterministic protobuf
encoding of the c1.connector.v2 message.

Speed matters (millions of grants): the writer never builds one Python protobuf object
per grant. Grants share few entitlements, so each entitlement's bytes are encoded once
with the generated classes; the source (the warehouse's DuckDB, see
litmos_pipeline.warehouse.c1z_source) then assembles every grant's bytes from that
prefix plus the principal and grant id fields (`source.GRANT_FIELDS`; tests check the
result byte-for-byte against ``Grant.SerializeToString(deterministic=True)``). Records
come from the source in key order, so SQLite receives rows in index order (which halves
the cost of building the indexes). Each grant partition goes to SQLite as one Arrow
stream through ADBC's SQLite driver, so no Python object is made per grant either.
Indexes are built after the load, which is much cheaper than maintaining them per row,
and the grant indexes (GIL-free SQLite work) are built in a thread while resources are
encoded into a side file that is copied in after.

The rooms: `schema` (format constants, tables and indexes, timestamp text), `encoding`
(the protobuf messages and fields), `source` (the protocol the writer reads its model
through: no database here), `sqlite_build` (the SQLite build file and its zstd frame),
`writer` (write_c1z), `reader` (read_c1z), `cli`; `errors` and `summary` are shared by
them. This module offers what callers use.

CLI for operators: ``python -m litmos_pipeline.c1.c1z stats|resources|entitlements|grants FILE``.
"""

from litmos_pipeline.c1.c1z.cli import main
from litmos_pipeline.c1.c1z.encoding import (
    RESOURCE_COLUMNS,
    TYPE_URL_PREFIX,
    ResourceRow,
    entitlement_message,
    grant_entitlement_field,
    grant_message,
    pack_any,
    resource_message,
    resource_type_message,
    serialize,
    varint,
)
from litmos_pipeline.c1.c1z.errors import C1zError, C1zFormatError, C1zInputError
from litmos_pipeline.c1.c1z.reader import C1zContents, SyncRun, read_c1z
from litmos_pipeline.c1.c1z.schema import (
    DEFAULT_MAX_DECODED_BYTES,
    MAGIC,
    MAGIC_V3,
    MAX_ID_BYTES,
    MAX_WINDOW_BYTES,
    RECORD_TABLES,
    SQLITE_HEADER,
    format_c1z_time,
)
from litmos_pipeline.c1.c1z.source import C1zSource
from litmos_pipeline.c1.c1z.summary import C1zSummary
from litmos_pipeline.c1.c1z.writer import DEFAULT_ZSTD_LEVEL, write_c1z

__all__ = [
    "DEFAULT_MAX_DECODED_BYTES",
    "DEFAULT_ZSTD_LEVEL",
    "MAGIC",
    "MAGIC_V3",
    "MAX_ID_BYTES",
    "MAX_WINDOW_BYTES",
    "RECORD_TABLES",
    "RESOURCE_COLUMNS",
    "SQLITE_HEADER",
    "TYPE_URL_PREFIX",
    "C1zContents",
    "C1zError",
    "C1zFormatError",
    "C1zInputError",
    "C1zSource",
    "C1zSummary",
    "ResourceRow",
    "SyncRun",
    "entitlement_message",
    "format_c1z_time",
    "grant_entitlement_field",
    "grant_message",
    "main",
    "pack_any",
    "read_c1z",
    "resource_message",
    "resource_type_message",
    "serialize",
    "varint",
    "write_c1z",
]
