"""Receiving and checking an uploaded c1z: the chunked stream, its checksum, the magic,
the zstd body and the SQLite database inside."""

from __future__ import annotations

import hashlib
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path

import grpc
import zstandard

from litmos_pipeline.c1.proto import baton_v1_pb2 as baton

C1Z_MAGIC = b"C1ZF\x00"
SQLITE_MAGIC = b"SQLite format 3\x00"
MAX_CHUNK_BYTES = 1024 * 1024  # the public schema's per-message limit


class C1zRejected(ValueError):
    """The uploaded bytes are not a readable c1z."""


def inspect_c1z(path: Path, scratch_dir: Path) -> tuple[tuple[str, ...], dict[str, int]]:
    """Check magic, zstd stream and SQLite; return (table names, row counts of v1_* tables)."""
    with path.open("rb") as fh:
        if fh.read(len(C1Z_MAGIC)) != C1Z_MAGIC:
            raise C1zRejected("not a c1z: the file does not start with the C1ZF magic")
        db_path = Path(tempfile.mkstemp(prefix="c1z-", suffix=".db", dir=scratch_dir)[1])
        try:
            try:
                with db_path.open("wb") as out:
                    zstandard.ZstdDecompressor().copy_stream(fh, out)
            except zstandard.ZstdError as exc:
                raise C1zRejected(f"not a c1z: the body is not a zstd stream ({exc})") from None
            return _inspect_sqlite(db_path)
        finally:
            db_path.unlink(missing_ok=True)


def _inspect_sqlite(db_path: Path) -> tuple[tuple[str, ...], dict[str, int]]:
    with db_path.open("rb") as fh:
        if fh.read(len(SQLITE_MAGIC)) != SQLITE_MAGIC:
            raise C1zRejected("not a c1z: the zstd body is not a SQLite database")
    try:
        conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
        try:
            rows = conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
            ).fetchall()
            tables = tuple(str(r[0]) for r in rows)
            counts = {
                t: int(conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0])
                for t in tables
                if t.startswith("v1_")
            }
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise C1zRejected(f"not a c1z: the SQLite database cannot be read ({exc})") from None
    return tables, counts


def receive_upload(
    requests: Iterator[baton.BatonServiceUploadAssetRequest],
    dest: Path,
    context: grpc.ServicerContext,
    *,
    cut: bool = False,
) -> tuple[int, bytes, bytes]:
    """Write data chunks to `dest` until eof; returns (size, sha256 of bytes, claimed sha256).
    With `cut`, the stream is reset after its first data chunk, as a dropped connection."""
    hasher = hashlib.sha256()
    size = 0
    claimed: bytes | None = None
    with dest.open("wb") as out:
        for msg in requests:
            kind = msg.WhichOneof("msg")
            if claimed is not None:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, "message after eof")
            if kind == "data":
                chunk = msg.data.data
                if not 0 < len(chunk) <= MAX_CHUNK_BYTES:
                    context.abort(
                        grpc.StatusCode.INVALID_ARGUMENT, "data chunks must be 1 byte to 1 MiB"
                    )
                hasher.update(chunk)
                out.write(chunk)
                size += len(chunk)
                if cut:
                    context.abort(grpc.StatusCode.UNAVAILABLE, "upload stream reset")
            elif kind == "eof":
                claimed = msg.eof.sha256_checksum
                if len(claimed) != 32:
                    context.abort(
                        grpc.StatusCode.INVALID_ARGUMENT, "eof.sha256_checksum must be 32 bytes"
                    )
            else:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"unexpected {kind} message")
    if claimed is None:
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, "the stream ended without eof")
    return size, hasher.digest(), claimed
