"""write_c1z: a C1 model (`source.C1zSource`) -> a SQLite build file -> one zstd frame.

The order of the work, and why, is in the package's docstring; the source reads the
model (the warehouse implements it), `sqlite_build` fills and packs the SQLite file.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from litmos_pipeline import files
from litmos_pipeline.c1.c1z import sqlite_build
from litmos_pipeline.c1.c1z.encoding import (
    ResourceRow,
    entitlement_message,
    grant_entitlement_field,
    resource_message,
    resource_type_message,
    serialize,
)
from litmos_pipeline.c1.c1z.errors import C1zError, C1zInputError
from litmos_pipeline.c1.c1z.schema import RESOURCE_TABLE_COLUMNS, TABLE_NAMES, format_c1z_time
from litmos_pipeline.c1.c1z.source import RECORD_KINDS, C1zSource
from litmos_pipeline.c1.c1z.summary import C1zSummary, stage
from litmos_pipeline.c1.ksuid import is_ksuid
from litmos_pipeline.c1.proto import connector_v2_pb2 as pb

# On the large benchmark's 2.5 GB SQLite file, level 2 was both faster and smaller than 3
# (2.1-2.3 s and 208 MB against 2.9-3.0 s and 211 MB; level 1: 2.3 s, 215 MB).
DEFAULT_ZSTD_LEVEL = 2


SYNC_TYPES = ("full", "partial")  # the ones this writer produces (connectorstore has more)


class _Writer:
    """One write_c1z call: a temp SQLite file filled from the source."""

    def __init__(self, source: C1zSource, sync_id: str, discovered_at: str,
                 immutable: Collection[tuple[str, str]] = (), sync_type: str = "full") -> None:
        self.source = source
        self.sync_type = sync_type
        self.immutable = frozenset(immutable)  # (resource type, slug) of status entitlements
        self.sync_id = sync_id
        self.discovered_at = discovered_at
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
        out = []
        for type_id, display_name, traits, description in self.source.resource_types():
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

    def write_resources(self, db: sqlite3.Connection) -> None:
        """Encode c1_resources into v1_resources of `db` (a side file, see write_c1z)."""
        known = self.resource_types
        total = 0
        for batch in self.source.resources():
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
        ent_ids: list[str] = []
        ent_fields: list[bytes] = []
        seen: set[str] = set()
        total = 0
        for batch in self.source.entitlements():
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
                    eid, rtype, rid, res_name, slug, name, desc, purpose, grantable_types,
                    immutable=(rtype, slug) in self.immutable,
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

        The source hands each partition over as one Arrow stream, its bytes already laid
        out, so no Python object is made per grant.
        """
        appending = self.source.grant_streams(ent_ids, ent_fields, self.sync_id,
                                              self.discovered_at)
        try:
            self.counts["grants"] = sqlite_build.append_arrow_streams(db_path, "v1_grants",
                                                                      appending)
        finally:
            # A generator's close runs its cleanup (a partition still being read).
            getattr(appending, "close", lambda: None)()

    def write_sync_run(self, db: sqlite3.Connection, started_at: str, ended_at: str) -> None:
        # A finished sync; grants carry no expansion data, so nothing needs backfill. A
        # full sync's SQL-level expansion columns are complete (supports_diff); a partial
        # one never sets it, and in a file of its own has no parent sync (addendum 6, 7).
        db.execute(
            "INSERT INTO v1_sync_runs (sync_id, started_at, ended_at, sync_token, sync_type,"
            " parent_sync_id, linked_sync_id, supports_diff, grants_backfilled)"
            " VALUES (?, ?, ?, '', ?, '', '', ?, 1)",
            (self.sync_id, started_at, ended_at, self.sync_type,
             1 if self.sync_type == "full" else 0),
        )

    def duplicate_error(self, ddl: str) -> C1zInputError:
        """Name a duplicate key behind a failed UNIQUE index (the source finds one)."""
        return self.source.duplicate_error(sqlite_build.index_table(ddl))


def write_c1z(
    dest: Path | str,
    source: C1zSource,
    sync_id: str,
    started_at: datetime,
    ended_at: datetime,
    *,
    discovered_at: datetime | None = None,
    zstd_level: int = DEFAULT_ZSTD_LEVEL,
    file_mode: int | None = None,
    immutable: Collection[tuple[str, str]] = (),
    sync_type: str = "full",
) -> C1zSummary:
    """Write the model `source` reads as one finished sync to a version-1 c1z at `dest`.

    `immutable` names the (resource type, slug) entitlements that are a status, not
    access: they carry EntitlementImmutable. `sync_type` is `full`, or `partial` for a
    targeted sync's file.

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
        with stage(stages, "validate"):
            source_counts = source.check()
        if sync_type not in SYNC_TYPES:
            raise C1zInputError(f"sync_type must be one of {SYNC_TYPES}, got {sync_type!r}")
        writer = _Writer(source, sync_id, discovered, immutable, sync_type)
        _load_records(writer, db_path, tmp_dir / "resources.db", started, ended, stages)
        _check_counts(source_counts, writer.counts)
        sqlite_bytes = db_path.stat().st_size
        out_path = tmp_dir / "sync.c1z"
        with stage(stages, "compress"):
            sqlite_build.create_empty(out_path, mode)
            size, digest = sqlite_build.compress(db_path, out_path, zstd_level)
        with stage(stages, "finalize"):
            os.replace(out_path, dest)
            sqlite_build.fsync_dir(dest.parent)
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
    with contextlib.closing(sqlite_build.open_sqlite(db_path, create=True)) as db:
        db.execute("BEGIN")
        with stage(stages, "resource_types"):
            writer.write_sync_run(db, started, ended)
            writer.write_resource_types(db)
        with stage(stages, "entitlements"):
            ent_ids, ent_fields = writer.write_entitlements(db)
        db.execute("COMMIT")
    with stage(stages, "grants"):
        writer.write_grants(db_path, ent_ids, ent_fields)
    try:
        # The big DuckDB reads are over: let its buffer pool go, so SQLite's index sorter
        # and zstd do not stack on top of it (resources are a few MB a partition).
        with writer.source.low_memory():
            _load_resources_and_index(writer, db_path, side_path, stages)
    except sqlite_build.DuplicateKeys as dup:
        raise writer.duplicate_error(dup.ddl) from None


def _load_resources_and_index(writer: _Writer, db_path: Path, side_path: Path,
                              stages: dict[str, float]) -> None:
    other_tables = [t for t in TABLE_NAMES if t != "v1_resources"]
    with sqlite_build.Background(
        lambda stop: sqlite_build.build_indexes_apart(db_path, other_tables, stop)
    ) as indexing:
        with stage(stages, "resources"):
            with contextlib.closing(sqlite_build.open_sqlite(side_path, create=True)) as side:
                side.execute("BEGIN")
                writer.write_resources(side)
                side.execute("COMMIT")
    stages["indexes"] = indexing.seconds
    with (stage(stages, "merge_resources"),
          contextlib.closing(sqlite_build.open_sqlite(db_path)) as db):
        columns = ", ".join(RESOURCE_TABLE_COLUMNS)
        db.execute("ATTACH DATABASE ? AS side", (str(side_path),))
        db.execute("BEGIN")
        db.execute(
            f"INSERT INTO v1_resources ({columns})"
            f" SELECT {columns} FROM side.v1_resources ORDER BY id"
        )
        db.execute("COMMIT")
        db.execute("DETACH DATABASE side")
        sqlite_build.build_indexes(db.execute, ["v1_resources"])


def _check_counts(source: dict[str, int], written: dict[str, int]) -> None:
    # Guards the partitioned reads: every source row must land exactly once.
    for kind in RECORD_KINDS:
        if source[kind] != written.get(kind):
            raise C1zError(f"wrote {written.get(kind)} {kind} but the source holds "
                           f"{source[kind]}")
