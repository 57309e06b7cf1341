"""Worker child processes get an allowlisted environment: no secrets, no other variables."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from litmos_pipeline import workers

SECRETS = {
    "LITMOS_API_KEY": "litmos-key-never-in-a-worker",
    "C1_CLIENT_SECRET": "secret-token:conductorone.com:v1:never-in-a-worker",
    "AWS_SECRET_ACCESS_KEY": "aws-never-in-a-worker",
    "SOME_TOKEN": "token-never-in-a-worker",
}


def environ_report() -> dict[str, str]:
    """Runs in the worker: the names it sees, and whether any secret value reached it."""
    values = "\n".join(os.environ.values())
    return {"keys": ",".join(sorted(os.environ)),
            "leaked": ",".join(n for n, v in SECRETS.items() if v in values)}


@pytest.fixture
def secret_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("LC_ALL", "C.UTF-8")
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")


def test_worker_sees_no_secret(secret_env: None) -> None:
    report = workers.call(environ_report)
    keys = set(report["keys"].split(","))
    assert not keys & set(SECRETS) and report["leaked"] == ""
    assert all(k in workers.ENV_ALLOWED or k.startswith(workers.ENV_ALLOWED_PREFIXES)
               for k in keys), keys
    assert {"PATH", "LC_ALL", "PYTHONDONTWRITEBYTECODE"} <= keys


def test_child_environment_is_an_allowlist() -> None:
    env = {"PATH": "/bin", "HOME": "/h", "LANG": "C", "LC_CTYPE": "C", "TMPDIR": "/t",
           "PYTHONPATH": "/p", "VIRTUAL_ENV": "/v", "LITMOS_FILE_MODE": "0640",
           "LITMOS_API_KEY": "k", "C1_CLIENT_SECRET": "s", "C1_CLIENT_ID": "i",
           "LITMOS_SOURCE": "src", "DAGSTER_HOME": "/d", "HTTPS_PROXY": "http://u:p@x"}
    assert set(workers.child_environment(env)) == {
        "PATH", "HOME", "LANG", "LC_CTYPE", "TMPDIR", "PYTHONPATH", "VIRTUAL_ENV",
        "LITMOS_FILE_MODE"}


@dataclass(frozen=True)
class Echo:
    path: Path
    at: datetime
    counts: dict[str, int]


def echo(value: Echo, *, extra: int) -> Echo:
    """Runs in the worker: typed values go in and come back as themselves."""
    return Echo(value.path / "child", value.at, {**value.counts, "extra": extra})


def test_typed_arguments_and_results_round_trip() -> None:
    sent = Echo(Path("/tmp/x"), datetime(2024, 5, 1, 12, tzinfo=UTC), {"grants": 3})
    got = workers.call(echo, sent, extra=1)
    assert got == Echo(Path("/tmp/x/child"), sent.at, {"grants": 3, "extra": 1})


def test_only_module_level_functions_run_in_a_worker() -> None:
    def local() -> None: ...

    with pytest.raises(TypeError, match="module-level"):
        workers.call(local)
    with pytest.raises(TypeError, match="module-level"):
        workers.call(lambda: None)
