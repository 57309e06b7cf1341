"""The command line against real sandboxes on loopback, through click's CliRunner.

`cli_env` is a complete environment for one test: every declared setting cleared, then
the sandbox settings, a fresh DAGSTER_HOME (the project's dagster.yaml) and files in the
test's folder. `invoke` runs one command in this process with that environment.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from litmos_pipeline import settings as cfg
from litmos_pipeline.cli import cli
from litmos_pipeline.settings import PROJECT_ROOT
from litmos_sandbox.c1 import C1Sandbox
from litmos_sandbox.litmos import LitmosSandbox


def settings_cleared() -> dict[str, str | None]:
    """None for every declared setting: CliRunner unsets those for the command."""
    return {cfg.env_name(field): None for model in cfg.GROUPS
            for field in model.model_fields.values()}


def new_home(folder: Path) -> Path:
    home = folder / "dagster_home"
    home.mkdir(parents=True)
    shutil.copy(PROJECT_ROOT / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    return home


def sandbox_env(folder: Path, litmos: LitmosSandbox, c1: C1Sandbox | None = None,
                **extra: str | None) -> dict[str, str | None]:
    env: dict[str, str | None] = {
        **settings_cleared(),
        "DAGSTER_HOME": str(new_home(folder)),
        "LITMOS_API_KEY": litmos.api_key, "LITMOS_SOURCE": "pytest",
        "LITMOS_BASE_URL": litmos.base_url, "LITMOS_REQUESTS_PER_MINUTE": "100000",
        "LITMOS_MAX_RETRIES": "1",
        "LITMOS_DUCKDB_PATH": str(folder / "data" / "litmos.duckdb"),
        "C1Z_OUTPUT_DIR": str(folder / "data" / "c1z"),
    }
    if c1 is not None:
        client_id, secret = c1.register_client("pytest")
        env.update({"C1_CLIENT_ID": client_id, "C1_CLIENT_SECRET": secret,
                    "C1_API_URL": c1.api_url, "C1_GRPC_TARGET": c1.grpc_target})
    env.update(extra)
    return env


def invoke(env: Mapping[str, str | None], *args: str) -> Result:
    return CliRunner().invoke(cli, list(args), env=dict(env), catch_exceptions=False)


@pytest.fixture
def c1_sandbox() -> Iterator[C1Sandbox]:
    with C1Sandbox() as sandbox:
        yield sandbox


@pytest.fixture
def cli_env(tmp_path: Path, tiny_sandbox: LitmosSandbox,
            c1_sandbox: C1Sandbox) -> dict[str, str | None]:
    return sandbox_env(tmp_path, tiny_sandbox, c1_sandbox)
