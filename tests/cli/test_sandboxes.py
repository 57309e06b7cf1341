"""`sandbox` serves both sandboxes with settings that work; `demo` refuses a bad preset
before it deletes anything; children say why they failed; Dagster's notices are silenced."""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from litmos_pipeline.cli.common import quiet_env
from litmos_sandbox import demo, processes
from tests.cli.conftest import invoke, settings_cleared

CLI = str(Path(sys.executable).parent / "litmos-pipeline")


def wait_for(what: str, check, timeout_s: float = 60.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def exports(env_file: Path) -> dict[str, str]:
    pairs = (shlex.split(line.removeprefix("export "))[0].split("=", 1)
             for line in env_file.read_text().splitlines())
    return dict(pairs)  # type: ignore[arg-type]


def refuses_connections(url: str) -> bool:
    parts = urlsplit(url)
    try:
        socket.create_connection((parts.hostname, parts.port), timeout=1).close()
    except OSError:
        return True
    return False


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_sandbox_serves_settings_that_pass_check_until_stopped(tmp_path: Path,
                                                               stop: signal.Signals) -> None:
    env = {k: v for k, v in os.environ.items() if k not in settings_cleared()}
    server = subprocess.Popen([CLI, "sandbox", "--preset", "tiny", "--dir", str(tmp_path)],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              start_new_session=True)
    try:
        env_file = tmp_path / "env.sh"
        wait_for("env.sh", lambda: env_file.exists() and env_file.read_text().endswith("\n")
                 and "C1_GRPC_TARGET" in env_file.read_text())
        assert env_file.stat().st_mode & 0o077 == 0
        settings = exports(env_file)
        assert settings["LITMOS_DUCKDB_PATH"].startswith(str(tmp_path))
        users = httpx.get(f"{settings['LITMOS_BASE_URL']}/users",
                          params={"source": "pytest", "limit": "1"},
                          headers={"apikey": settings["LITMOS_API_KEY"]})
        assert users.status_code == 200
        if stop == signal.SIGINT:
            check = subprocess.run([CLI, "check"], env={**env, **settings},
                                   capture_output=True, text=True, timeout=120)
            assert check.returncode == 0, check.stdout + check.stderr
    finally:
        server.send_signal(stop)
        output = server.communicate(timeout=60)[0].decode()
    assert server.returncode == 0, output
    assert "export LITMOS_API_KEY=" in output and "stopping the sandboxes" in output
    assert refuses_connections(settings["LITMOS_BASE_URL"])
    assert refuses_connections(settings["C1_API_URL"])


def test_an_unknown_preset_is_a_usage_error(tmp_path: Path) -> None:
    for command in ("demo", "sandbox", "ui"):
        result = invoke(settings_cleared(), command, "--preset", "huge")
        assert result.exit_code == 2, result.output
        assert "unknown tenant preset 'huge'" in result.output
        assert "tiny" in result.output and "Traceback" not in result.output


def test_the_demo_checks_the_preset_before_removing_its_files(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(demo, "DEMO_DIR", tmp_path / "demo")
    kept = tmp_path / "demo" / "litmos.duckdb"
    kept.parent.mkdir()
    kept.write_text("the previous demo's file")
    with pytest.raises(demo.DemoError, match="unknown tenant preset 'huge'"):
        demo.run_demo("huge")
    assert kept.exists()


def test_a_child_that_dies_before_ready_says_why(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="invalid choice: 'huge'"):
        processes.start_litmos_sandbox("--preset", "huge", log_path=tmp_path / "litmos.log")


def test_dagsters_notices_are_silenced_in_the_children() -> None:
    code = ("from dagster_shared.utils.warnings import beta_warning, supersession_warning\n"
            "supersession_warning('Function `job_execute_command`', 'Use dg launch.')\n"
            "beta_warning('Parameter `owners` of initializer `SensorDefinition.__init__`')\n")
    loud = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"})
    assert "SupersessionWarning" in loud.stderr and "BetaWarning" in loud.stderr
    quiet = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           env=quiet_env())
    assert quiet.returncode == 0 and quiet.stderr == ""
