"""`sync`, then `status` and `inspect`, end to end: a tiny tenant on the Litmos sandbox, runs
through `dagster job execute` into a test instance (so they are Dagster's own runs)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest

from litmos_pipeline.cli.run import ACCEPT_TAG, LAUNCH_TAG
from litmos_pipeline.defs.sync import ACCEPT_MASS_REMOVAL_TAG
from litmos_sandbox.litmos import LitmosSandbox
from litmos_sandbox.litmos.tenant import Tenant, TenantSpec
from tests.cli.conftest import invoke, sandbox_env
from tests.defs.daemon import wait_for

pytestmark = pytest.mark.timeout(240)


@dataclass
class Synced:
    env: dict[str, str | None]
    litmos: LitmosSandbox
    output: str  # what the first `sync` printed
    requests: int  # what the sandbox counted for it


@pytest.fixture(scope="module")
def synced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synced]:
    """One sync done: the tests of this module share it and build on it, in order."""
    folder = tmp_path_factory.mktemp("sync")
    with LitmosSandbox(Tenant.generate(TenantSpec.preset("tiny")),
                       rate_limit_per_minute=None) as litmos:
        env = sandbox_env(folder, litmos)
        result = invoke(env, "sync")
        assert result.exit_code == 0, result.output
        yield Synced(env, litmos, result.output, litmos.app.stats.snapshot()["total_requests"])


def runs(env: dict[str, str | None]) -> list[dg.DagsterRun]:
    with dg.DagsterInstance.from_config(str(env["DAGSTER_HOME"])) as instance:
        return list(instance.get_runs())


def test_the_accept_flag_sets_the_guards_tag() -> None:
    assert ACCEPT_TAG == ACCEPT_MASS_REMOVAL_TAG


def test_a_sync_is_a_dagster_run_followed_to_its_floor(synced: Synced) -> None:
    [run] = runs(synced.env)
    assert run.job_name == "litmos_sync" and run.status == dg.DagsterRunStatus.SUCCESS
    assert LAUNCH_TAG in run.tags and run.tags["litmos/sync"] == "full"
    assert (Path(str(synced.env["C1Z_OUTPUT_DIR"])) / "latest.c1z").exists()
    figures = re.findall(r"extract: (\d+)/(\d+) req \(floor\)", synced.output)
    assert figures, synced.output
    pages, floor = map(int, figures[-1])
    # The lists' floor; the sign-ins of the last-login look-back are read after them.
    assert pages == floor == synced.requests - 1
    assert re.search(rf"litmos_sync succeeded \(run {run.run_id}\): {synced.requests} "
                     "requests", synced.output)


def test_status_and_inspect_after_the_sync(synced: Synced) -> None:
    env, litmos = synced.env, synced.litmos
    status = invoke(env, "status")
    assert status.exit_code == 0, status.output
    assert re.search(r"last sync \w{27} published", status.output)
    assert f"{len(litmos.tenant.users())} users" in status.output
    assert "litmos_sync: last run success" in status.output
    assert "litmos_refresh: no runs" in status.output
    assert "guard: no held sync" in status.output
    inspected = invoke(env, "inspect", "--latest", "--against-duckdb", "--sample", "2")
    assert inspected.exit_code == 0, inspected.output
    # users, 3 teams, 3 courses and the learning paths (synced by default)
    resources = len(litmos.tenant.users()) + 6 + len(litmos.tenant.learning_paths())
    assert f"resources {resources:,}" in inspected.output
    assert "the same ids" in inspected.output


def test_refresh_applies_the_changes_since_the_sync(synced: Synced) -> None:
    synced.litmos.tenant.mutate(seed=5, assign_courses=1, remove_team_members=1)
    result = invoke(synced.env, "refresh")
    assert result.exit_code == 0, result.output
    assert re.search(r"litmos_refresh succeeded \(run [0-9a-f-]{36}\): \d+ requests for the "
                     r"changes from ", result.output), result.output
    assert runs(synced.env)[0].job_name == "litmos_refresh"


def test_a_failed_sync_says_why(synced: Synced) -> None:
    env = synced.env
    result = invoke({**env, "LITMOS_API_KEY": "wrong-key"}, "sync")
    assert result.exit_code == 1
    assert "litmos_sync failed: litmos_extract: LitmosAuthError:" in result.output
    assert "401 Unauthorized" in result.output
    assert "Traceback" not in result.output
    status = invoke(env, "status")
    assert status.exit_code == 1  # the newest sync failed
    assert "litmos_sync: last run failure" in status.output


def test_a_held_sync_is_reported_and_can_be_accepted(synced: Synced) -> None:
    env, litmos = synced.env, synced.litmos
    # Syncing one course of three takes away more than 20% of the grants: held.
    one_course = {**env, "LITMOS_COURSE_IDS": litmos.tenant.courses()[0].id}
    held = invoke(one_course, "sync")
    assert held.exit_code == 1
    assert "the mass-revocation guard held it" in held.output
    assert "litmos-pipeline sync --accept-mass-removal" in held.output
    status = invoke(env, "status")
    assert status.exit_code == 1
    assert re.search(r"held sync run [0-9a-f-]{36} .*: it would remove \d+ of \d+ grants",
                     status.output)
    accepted = invoke(one_course, "sync", "--accept-mass-removal")
    assert accepted.exit_code == 0, accepted.output
    assert runs(env)[0].tags[ACCEPT_TAG] == "true"
    after = invoke(env, "status")
    assert after.exit_code == 0, after.output
    assert "guard: no held sync" in after.output


def test_ctrl_c_stops_the_run_and_removes_its_staging_file(tmp_path: Path) -> None:
    # 3,000 users and 20 teams at 120 requests a minute: a sync of about 35 s, stopped early.
    tenant = Tenant.generate(TenantSpec(users=3_000, teams=20, courses=5, enrollments=100))
    with LitmosSandbox(tenant, rate_limit_per_minute=None) as litmos:
        settings = sandbox_env(tmp_path, litmos, LITMOS_REQUESTS_PER_MINUTE="120")
        env = {**{k: v for k, v in os.environ.items() if k not in settings},
               **{k: v for k, v in settings.items() if v is not None}}
        sync = subprocess.Popen([str(Path(sys.executable).parent / "litmos-pipeline"), "sync"],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, start_new_session=True)
        staging = Path(env["LITMOS_DUCKDB_PATH"]).parent / "staging"
        try:
            wait_for("the extract to stage pages", lambda: list(staging.glob("*.duckdb")))
        finally:
            sync.send_signal(signal.SIGINT)
            output = sync.communicate(timeout=120)[0]
    assert sync.returncode == 1, output
    assert "litmos_sync failed: interrupted; the run ended with status FAILURE" in output
    [run] = runs(settings)
    assert run.status == dg.DagsterRunStatus.FAILURE  # ended, not left STARTED
    assert not list(staging.glob(f"{run.run_id}*"))
    assert "Traceback" not in output
