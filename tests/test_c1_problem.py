"""C1Resource.problem(): malformed C1 credentials found offline, named, never echoed."""

from __future__ import annotations

import os
import subprocess
import sys

import dagster as dg
import pytest

from litmos_pipeline.c1.credentials import SECRET_PREFIX, generate_client_credentials
from litmos_pipeline.defs.resources import C1Resource, credentials_problem

CLIENT_ID, CLIENT_SECRET = generate_client_credentials("acme.conductor.one")
BAD_SECRET = SECRET_PREFIX + "bad-value-must-not-show!!"


def test_not_configured_and_well_formed_have_no_problem() -> None:
    assert C1Resource().problem() is None
    assert C1Resource(client_id=CLIENT_ID, client_secret=CLIENT_SECRET).problem() is None
    assert C1Resource(client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                      api_url="http://127.0.0.1:8080").problem() is None


@pytest.mark.parametrize(("fields", "setting"), [
    ({"client_id": CLIENT_ID, "client_secret": BAD_SECRET}, "C1_CLIENT_SECRET"),
    ({"client_id": CLIENT_ID, "client_secret": "bad-value-must-not-show"}, "C1_CLIENT_SECRET"),
    ({"client_id": "bad-value-must-not-show", "client_secret": CLIENT_SECRET}, "C1_CLIENT_ID"),
    ({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
      "api_url": "http://bad-value-must-not-show.example"}, "C1_API_URL"),
    ({"client_id": CLIENT_ID}, "C1_CLIENT_SECRET is not set"),
    ({"client_secret": CLIENT_SECRET}, "C1_CLIENT_ID is not set"),
])
def test_problem_is_one_line_naming_the_setting(fields: dict[str, str], setting: str) -> None:
    problem = C1Resource(**fields).problem()
    assert problem is not None and setting in problem
    assert "\n" not in problem and "must-not-show" not in problem
    assert CLIENT_SECRET not in problem


def test_problem_is_cached_and_reads_env_vars(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("C1_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("C1_CLIENT_SECRET", BAD_SECRET)
    c1 = C1Resource(client_id=dg.EnvVar("C1_CLIENT_ID"),
                    client_secret=dg.EnvVar("C1_CLIENT_SECRET"))
    first = c1.problem()
    hits = credentials_problem.cache_info().hits
    assert c1.problem() == first and first is not None and "C1_CLIENT_SECRET" in first
    assert credentials_problem.cache_info().hits == hits + 1


def load_definitions(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("C1_", "LITMOS_"))}
    return subprocess.run([sys.executable, "-c", "import litmos_pipeline.definitions"],
                          env={**clean, **env}, capture_output=True, text=True, timeout=120,
                          check=True)


def test_definitions_load_warns_once_without_traceback() -> None:
    out = load_definitions(C1_CLIENT_ID=CLIENT_ID, C1_CLIENT_SECRET=BAD_SECRET)
    lines = [line for line in out.stderr.splitlines() if "C1_CLIENT_SECRET" in line]
    assert len(lines) == 1 and "is malformed" in lines[0], out.stderr
    assert "Traceback" not in out.stderr and "must-not-show" not in out.stderr + out.stdout


def test_definitions_load_is_quiet_when_c1_is_fine() -> None:
    out = load_definitions(C1_CLIENT_ID=CLIENT_ID, C1_CLIENT_SECRET=CLIENT_SECRET)
    assert "C1_" not in out.stderr, out.stderr
