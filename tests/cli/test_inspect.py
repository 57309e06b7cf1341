"""`inspect` on c1z files written by the pipeline's writer, and against a DuckDB snapshot."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from litmos_pipeline.c1.c1z import read_c1z
from litmos_pipeline.c1.c1z.diff import diff_sorted
from litmos_pipeline.cli.inspect_c1z import DUCKDB_IDS, duckdb_ids
from litmos_pipeline.warehouse.c1z_source import write_c1z
from tests.c1.test_c1z import ENDED, GRANTS, STARTED, SYNC_ID, build_tables
from tests.cli.conftest import invoke, settings_cleared


def write(path: Path, grants: list[tuple[str, str, str, str]]) -> Path:
    with duckdb.connect() as con:
        build_tables(con, grants)
        write_c1z(path, con, SYNC_ID, STARTED, ENDED)
    return path


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str | None]:
    return {**settings_cleared(), "C1Z_OUTPUT_DIR": str(tmp_path / "c1z"),
            "LITMOS_DUCKDB_PATH": str(tmp_path / "w.duckdb")}


def test_counts_per_type_and_entitlement_and_a_sample(tmp_path: Path,
                                                      env: dict[str, str | None]) -> None:
    path = write(tmp_path / "a.c1z", GRANTS)
    result = invoke(env, "inspect", str(path), "--sample", "1")
    assert result.exit_code == 0, result.output
    assert f"sync {SYNC_ID}" in result.output
    assert f"grants {len(GRANTS)}" in result.output
    course_assigned = sum(1 for t, _, s, _ in GRANTS if (t, s) == ("course", "assigned"))
    assert any(line.split()[:2] == ["course", "assigned"] and line.split()[-1] ==
               str(course_assigned) for line in result.output.splitlines())
    assert result.output.count("  grant  ") == 1


def test_diff_between_two_files_exits_1_with_examples(tmp_path: Path,
                                                      env: dict[str, str | None]) -> None:
    full = write(tmp_path / "full.c1z", GRANTS)
    fewer = write(tmp_path / "fewer.c1z", GRANTS[:-1])
    result = invoke(env, "inspect", str(full), "--diff", str(fewer), "--sample", "0")
    assert result.exit_code == 1
    t, r, s, u = GRANTS[-1]
    assert f"grants: {len(GRANTS) - 1} in both, 1 only in this file (e.g. {t}:{r}:{s}:user:{u})" \
        in result.output
    same = invoke(env, "inspect", str(full), "--diff", str(full), "--sample", "0")
    assert same.exit_code == 0 and "the same ids" in same.output


def test_latest_finds_the_newest_kept_file(tmp_path: Path, env: dict[str, str | None]) -> None:
    empty = invoke(env, "inspect", "--latest")
    assert empty.exit_code == 2
    assert "no c1z in" in empty.output and "C1Z_OUTPUT_DIR" in empty.output
    (tmp_path / "c1z").mkdir()
    write(tmp_path / "c1z" / "latest.c1z", GRANTS)
    found = invoke(env, "inspect", "--latest", "--sample", "0")
    assert found.exit_code == 0 and "latest.c1z" in found.output


def test_expected_errors_are_one_line(tmp_path: Path, env: dict[str, str | None]) -> None:
    missing = invoke(env, "inspect", str(tmp_path / "nope.c1z"))
    assert missing.exit_code == 2 and "no such file" in missing.output
    (tmp_path / "junk.c1z").write_bytes(b"not a c1z at all")
    junk = invoke(env, "inspect", str(tmp_path / "junk.c1z"))
    assert junk.exit_code == 1 and "not a c1z file" in junk.output
    neither = invoke(env, "inspect")
    assert neither.exit_code == 2 and "give a FILE or --latest" in neither.output
    for result in (missing, junk, neither):
        assert "Traceback" not in result.output


def test_duckdb_ids_come_in_the_c1z_order(tmp_path: Path) -> None:
    # Odd ids (combining marks, astral characters) sort alike in SQLite and in DuckDB.
    path = write(tmp_path / "a.c1z", GRANTS)
    with duckdb.connect() as con, read_c1z(path) as contents:
        build_tables(con, GRANTS)
        for table, (source, column) in DUCKDB_IDS.items():
            diff = diff_sorted(contents.external_ids(table), duckdb_ids(con, source, column))
            assert diff.same and diff.both == contents.counts()[table.removeprefix("v1_")]
