"""Files holding personal data are private: LITMOS_FILE_MODE (default 0600, folders 0700).

The sync runs under a permissive umask (022, the usual default), so only the pipeline can
make its files private; files an older version left world-readable are tightened.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from litmos_pipeline import files
from litmos_pipeline import settings as cfg
from litmos_pipeline.warehouse import store
from litmos_sandbox.litmos import LitmosSandbox
from tests.conftest import sync_resources
from tests.defs.test_sync import full_sync


@pytest.fixture(autouse=True)
def permissive_umask(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # The pipeline sets the process umask; give it the usual default, and put the
    # pytest process's own back afterwards.
    monkeypatch.delenv(files.FILE_MODE_ENV, raising=False)
    before = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(before)


def modes(*roots: Path) -> dict[str, int]:
    """Permission bits of every path under (and including) `roots`."""
    out = {}
    for root in roots:
        for path in [root, *root.rglob("*")]:
            out[str(path)] = stat.S_IMODE(path.lstat().st_mode)
    return out


def wrong(found: dict[str, int], file_mode: int, dir_mode: int) -> dict[str, str]:
    return {path: oct(mode) for path, mode in found.items()
            if mode != (dir_mode if Path(path).is_dir() else file_mode)}


def old_version_files(data: Path, out_dir: Path) -> None:
    """What an older version left: world-readable folders, main file and c1z."""
    data.mkdir(mode=0o755)
    out_dir.mkdir(mode=0o755)
    duckdb.connect(str(data / "w.duckdb")).close()
    (out_dir / "old.c1z").write_bytes(b"C1ZF\x00old")
    assert stat.S_IMODE((data / "w.duckdb").stat().st_mode) == 0o644


def test_a_sync_leaves_only_private_files(tiny_sandbox: LitmosSandbox, tmp_path: Path,
                                          instance: dg.DagsterInstance) -> None:
    data, out_dir = tmp_path / "data", tmp_path / "c1z"
    old_version_files(data, out_dir)
    resources = sync_resources(tiny_sandbox.base_url, tiny_sandbox.api_key, data / "w.duckdb")
    assert full_sync(resources, out_dir, instance).success
    found = modes(data, out_dir)
    assert str(out_dir / "latest.c1z") in found and str(data / "staging") in found
    assert wrong(found, 0o600, 0o700) == {}


def test_the_operator_chooses_the_mode(tiny_sandbox: LitmosSandbox, tmp_path: Path,
                                       instance: dg.DagsterInstance,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(files.FILE_MODE_ENV, "0640")
    data, out_dir = tmp_path / "data", tmp_path / "c1z"
    old_version_files(data, out_dir)
    resources = sync_resources(tiny_sandbox.base_url, tiny_sandbox.api_key, data / "w.duckdb")
    assert full_sync(resources, out_dir, instance).success
    found = modes(data, out_dir)
    assert str(out_dir / "latest.c1z") in found
    assert wrong(found, 0o640, 0o750) == {}


def test_duckdb_spill_files_are_private(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with store.opened(data / "x.duckdb", memory_limit="64MB") as con:
        con.execute("SET threads = 1")
        con.execute("CREATE TABLE t AS SELECT md5(range::VARCHAR) AS s FROM range(2000000)")
        result = con.execute("SELECT s FROM t ORDER BY s")
        result.fetchmany(10)  # the sort has spilled and is still open
        found = modes(data)
        assert any(".tmp" in Path(p).name for p in found), "the sort did not spill"
        assert wrong(found, 0o600, 0o700) == {}


@pytest.mark.parametrize("value", ["0777", "0644x", "0400", "4600", "rw-------", "0o1600",
                                   "0660 0"])
def test_a_bad_mode_is_a_settings_error_naming_the_variable(
        value: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(cfg.SettingsError, match=files.FILE_MODE_ENV) as err:
        cfg.load(cfg.FileSettings, {files.FILE_MODE_ENV: value})
    assert value not in str(err.value)
    monkeypatch.setenv(files.FILE_MODE_ENV, value)
    with pytest.raises(cfg.SettingsError, match=files.FILE_MODE_ENV):
        store.connect(tmp_path / "x.duckdb")
    assert not (tmp_path / "x.duckdb").exists()


@pytest.mark.parametrize(("value", "mode"), [("0600", 0o600), ("640", 0o640),
                                             ("0o660", 0o660), (" 0644 ", 0o644)])
def test_octal_modes_parse(value: str, mode: int) -> None:
    assert cfg.load(cfg.FileSettings, {files.FILE_MODE_ENV: value}).file_mode == mode
    assert files.file_mode({files.FILE_MODE_ENV: value}) == mode
    assert cfg.load(cfg.FileSettings, {}).file_mode == files.file_mode({}) == 0o600


def test_tighten_never_widens(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"")
    path.chmod(0o400)
    files.tighten(path, 0o640)
    assert stat.S_IMODE(path.stat().st_mode) == 0o400
    path.chmod(0o666)
    files.tighten(path, 0o640)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
