"""read_c1z: check the magic, decompress to a temp SQLite file, decode the records."""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import zstandard
from google.protobuf.message import Message

from litmos_pipeline.c1.c1z.errors import C1zFormatError
from litmos_pipeline.c1.c1z.schema import (
    DEFAULT_MAX_DECODED_BYTES,
    MAGIC,
    MAGIC_V3,
    MAX_WINDOW_BYTES,
    RECORD_TABLES,
    SQLITE_HEADER,
)
from litmos_pipeline.c1.proto import connector_v2_pb2 as pb


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

    def external_ids(self, table: str, batch_rows: int = 10_000) -> Iterator[str]:
        """One record table's external ids in byte order (SQLite's BINARY collation)."""
        if table not in _RECORD_CLASSES:
            raise ValueError(f"not a c1z record table: {table!r}")
        cursor = self._db.execute(
            f"SELECT external_id FROM {table} WHERE sync_id = ? ORDER BY external_id",
            (self.sync_id,))
        while rows := cursor.fetchmany(batch_rows):
            for (external_id,) in rows:
                yield external_id

    def grants_by_entitlement(self) -> dict[str, int]:
        """Grants per entitlement id."""
        rows = self._db.execute(
            "SELECT entitlement_id, count(*) FROM v1_grants WHERE sync_id = ?"
            " GROUP BY entitlement_id ORDER BY entitlement_id", (self.sync_id,))
        return {entitlement_id: int(n) for entitlement_id, n in rows}

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
