"""Worker child processes get an allowlisted environment: no secrets, no other variables."""

from __future__ import annotations

import os

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
    report = workers.call(f"{__name__}:environ_report")
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
