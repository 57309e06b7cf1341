"""The c1z bytes of a fixed tenant, pinned: a refactor of the writer must not change them.

The digests were taken from the writer before it became a package. They hold for one
set of libraries: zstd's output and SQLite's page layout may change with a new release
of zstandard, Python's sqlite3 or ADBC's SQLite driver. After such an upgrade, check that
the other c1z tests pass, then pin the new digests in the same commit as the upgrade.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from litmos_pipeline.c1.c1z.writer import write_c1z as write_from_source
from litmos_pipeline.warehouse.c1z_source import (
    DEFAULT_PARTITION_ROWS,
    DuckDBC1zSource,
    write_c1z,
)
from tests.c1.test_c1z import ENDED, GRANTS, STARTED, SYNC_ID, _sqlite_bytes, build_tables

C1Z_SHA256 = "4d3254bed97a63170992ce92c7ca12939d8cf15ade429f7605625a579c876fb6"
SQLITE_SHA256 = "ecbc94a166ede18747d855a01744835377fa18e3d47722252cf6517294931316"
# The same tenant before course completed/in_progress carried EntitlementImmutable: the
# writer asked for no immutable entitlements still writes exactly these bytes, so the
# annotation is the only change (ids and every other row stay as they were).
C1Z_SHA256_NO_IMMUTABLE = "d71d477cdec3662100b483290cb0ce8dbb4754bc0eb980bf87f254b044015a58"
SQLITE_SHA256_NO_IMMUTABLE = "97cc9e1a0c0d9d83f720b882e314ae92ed5db39baee1e4822dc04bf3a8784690"


@pytest.fixture
def utc_clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # The file holds local wall-clock text (as the SDK writes it), so the zone is fixed.
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("utc_clock")
@pytest.mark.parametrize("partition_rows", [DEFAULT_PARTITION_ROWS, 2])
def test_bytes_of_a_fixed_tenant(tmp_path: Path, partition_rows: int) -> None:
    with duckdb.connect() as con:
        build_tables(con, GRANTS)
        summary = write_c1z(tmp_path / "sync.c1z", con, SYNC_ID, STARTED, ENDED,
                           partition_rows=partition_rows)
    assert hashlib.sha256(_sqlite_bytes(summary.path)).hexdigest() == SQLITE_SHA256
    assert summary.sha256 == C1Z_SHA256


@pytest.mark.usefixtures("utc_clock")
def test_the_immutability_annotation_is_the_only_change(tmp_path: Path) -> None:
    with duckdb.connect() as con:
        build_tables(con, GRANTS)
        summary = write_from_source(tmp_path / "sync.c1z", DuckDBC1zSource(con), SYNC_ID,
                                    STARTED, ENDED)
    assert hashlib.sha256(_sqlite_bytes(summary.path)).hexdigest() == SQLITE_SHA256_NO_IMMUTABLE
    assert summary.sha256 == C1Z_SHA256_NO_IMMUTABLE
