"""The c1z writer run in a child process gives the file the in-process writer gives."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from litmos_pipeline import c1z_process, workers
from litmos_pipeline.c1 import c1z
from litmos_pipeline.warehouse.c1z_source import write_c1z
from tests.c1.test_c1z import ENDED, GRANTS, STARTED, SYNC_ID, build_tables


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    path = tmp_path / "stage.duckdb"
    with duckdb.connect(str(path)) as con:
        build_tables(con, GRANTS)
    return path


def test_child_writes_the_same_file_as_in_process(db_path: Path, tmp_path: Path) -> None:
    summary = c1z_process.write_c1z_file(tmp_path / "child.c1z", db_path, sync_id=SYNC_ID,
                                         started_at=STARTED, ended_at=ENDED,
                                         memory_limit="64MB")
    with duckdb.connect(str(db_path), read_only=True) as con:
        local = write_c1z(tmp_path / "local.c1z", con, SYNC_ID, STARTED, ENDED)
    assert summary.path == tmp_path / "child.c1z"
    assert summary.counts == local.counts and summary.counts["grants"] == len(GRANTS)
    assert summary.sha256 == local.sha256
    assert (tmp_path / "child.c1z").read_bytes() == (tmp_path / "local.c1z").read_bytes()


def test_writer_errors_come_back_with_their_type_and_message(db_path: Path,
                                                             tmp_path: Path) -> None:
    with pytest.raises(c1z.C1zInputError, match="KSUID"):
        c1z_process.write_c1z_file(tmp_path / "x.c1z", db_path, sync_id="not-a-ksuid",
                                   started_at=STARTED, ended_at=ENDED, memory_limit="64MB")
    with pytest.raises(c1z.C1zError, match="does not exist"):
        c1z_process.write_c1z_file(tmp_path / "no" / "x.c1z", db_path, sync_id=SYNC_ID,
                                   started_at=STARTED, ended_at=ENDED, memory_limit="64MB")


def test_a_crash_in_the_child_is_reported_with_its_stderr(tmp_path: Path) -> None:
    with pytest.raises(workers.WorkerError, match="failed in its worker process .*missing.duckdb"):
        c1z_process.write_c1z_file(tmp_path / "x.c1z", tmp_path / "missing.duckdb",
                                   sync_id=SYNC_ID, started_at=STARTED, ended_at=ENDED,
                                   memory_limit="64MB")
    assert not (tmp_path / "x.c1z").exists()
