"""The c1z write, run in a lean worker process (see litmos_pipeline.workers).

Above both rooms it joins: the warehouse opens the staging file and reads its c1_*
tables (warehouse.c1z_source), the C1 writer turns them into the c1z, and the worker
runner keeps it out of the run process. Neither c1/ nor warehouse/ imports this module.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from litmos_pipeline import files, workers
from litmos_pipeline.c1 import c1z
from litmos_pipeline.warehouse import c1z_source, store


def write_c1z_file(dest: Path, db_path: Path, *, sync_id: str, started_at: datetime,
                   ended_at: datetime, memory_limit: str,
                   sync_type: str = "full") -> c1z.C1zSummary:
    """The c1z of the c1_* tables in `db_path`, written in a child process.

    LITMOS_FILE_MODE is read here, so a bad value fails before the child starts.
    """
    return workers.call(write, dest=dest, db_path=db_path, sync_id=sync_id,
                        started_at=started_at, ended_at=ended_at, memory_limit=memory_limit,
                        file_mode=files.file_mode(), sync_type=sync_type)


def write(dest: Path, db_path: Path, sync_id: str, started_at: datetime, ended_at: datetime,
          memory_limit: str, file_mode: int | None = None,
          sync_type: str = "full") -> c1z.C1zSummary:
    """The child's side: open the staging file read-only and write the c1z.

    The umask comes first: the c1z's SQLite build file, SQLite's and DuckDB's temp files
    are created by the libraries themselves, with `file_mode` only through it.
    """
    mode = files.protect_process(file_mode)
    with store.opened(db_path, read_only=True, memory_limit=memory_limit) as con:
        return c1z_source.write_c1z(dest, con, sync_id=sync_id, started_at=started_at,
                                    ended_at=ended_at, file_mode=mode, sync_type=sync_type)
