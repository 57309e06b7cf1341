"""`status` before anything was synced: a clear line and exit 2, no traceback."""

from __future__ import annotations

from pathlib import Path

from tests.cli.conftest import invoke, new_home, settings_cleared


def test_no_sync_yet_exits_2_and_says_what_to_run(tmp_path: Path) -> None:
    env = {**settings_cleared(), "DAGSTER_HOME": str(new_home(tmp_path)),
           "LITMOS_DUCKDB_PATH": str(tmp_path / "none" / "litmos.duckdb")}
    result = invoke(env, "status")
    assert result.exit_code == 2
    assert "no sync yet" in result.output and "LITMOS_DUCKDB_PATH" in result.output
    assert "run `litmos-pipeline sync`" in result.output
    assert "litmos_sync: no runs" in result.output
    assert not (tmp_path / "none").exists()  # status creates nothing


def test_without_a_dagster_instance_the_warehouse_is_still_reported(tmp_path: Path) -> None:
    env = {**settings_cleared(), "DAGSTER_HOME": str(tmp_path / "no-home"),
           "LITMOS_DUCKDB_PATH": str(tmp_path / "litmos.duckdb")}
    result = invoke(env, "status")
    assert result.exit_code == 2
    assert "Dagster: not read (DAGSTER_HOME" in result.output
    assert "Traceback" not in result.output


def test_a_bad_setting_is_named(tmp_path: Path) -> None:
    result = invoke({**settings_cleared(), "C1Z_KEEP_FILES": "0"}, "status")
    assert result.exit_code == 2
    assert "C1Z_KEEP_FILES" in result.output and "Traceback" not in result.output
