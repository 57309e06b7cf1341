"""The c1z's SQLite build file: pragmas, ADBC appends, index builds, and the zstd frame."""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import adbc_driver_manager as adbc
import adbc_driver_sqlite
import zstandard

from litmos_pipeline.c1.c1z.errors import C1zError
from litmos_pipeline.c1.c1z.schema import INDEXES_DDL, MAGIC, TABLES_DDL, UPFRONT_INDEXES_DDL

_SQLITE_PAGE_SIZE = 16384
_SQLITE_CACHE_KIB = 16 * 1024


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


def append_arrow_streams(db_path: Path, table: str, streams: Iterable[Any]) -> int:
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


class DuplicateKeys(Exception):
    """A UNIQUE index could not be built; carries the DDL so the caller can name a key."""

    def __init__(self, ddl: str) -> None:
        super().__init__(ddl)
        self.ddl = ddl


def index_table(ddl: str) -> str:
    return ddl.split(" ON ", 1)[1].split(" ", 1)[0]


def build_indexes(execute: Callable[[str], Any], tables: Iterable[str],
                   stop: threading.Event | None = None) -> None:
    """Every index of `tables` not made with the empty tables, through `execute`."""
    wanted = set(tables)
    for ddl in INDEXES_DDL:
        if index_table(ddl) not in wanted or ddl in UPFRONT_INDEXES_DDL:
            continue
        if stop is not None and stop.is_set():
            return
        try:
            execute(ddl)
        except (sqlite3.IntegrityError, adbc.IntegrityError):
            raise DuplicateKeys(ddl) from None


def build_indexes_apart(db_path: Path, tables: Iterable[str], stop: threading.Event) -> None:
    """The indexes of `tables`, on an ADBC connection of their own (see `_adbc_sqlite`)."""
    with _adbc_sqlite(db_path, "building indexes") as conn:
        build_indexes(lambda ddl: _adbc_execute(conn, ddl), tables, stop)


class Background:
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

    def __enter__(self) -> Background:
        self._thread.start()
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is not None:
            self._stop.set()
        self._thread.join()
        if exc_type is None and self._error is not None:
            raise self._error


def open_sqlite(path: Path, *, create: bool = False) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None)
    if create:
        db.execute(f"PRAGMA page_size = {_SQLITE_PAGE_SIZE}")
    for pragma in _SQLITE_BUILD_PRAGMAS:
        db.execute(pragma)
    if create:
        for ddl in (*TABLES_DDL, *UPFRONT_INDEXES_DDL):
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


def compress(db_path: Path, out_path: Path, level: int) -> tuple[int, str]:
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


def create_empty(path: Path, mode: int) -> None:
    """An empty file with exactly `mode` (whatever the umask), before a byte is written."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode))
    os.chmod(path, mode)


def fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
