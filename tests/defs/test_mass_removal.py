"""The mass-revocation guard through Dagster against the Litmos sandbox (real HTTP, DuckDB).

A sync that would remove too much of the published access is held: the run fails naming
the figures and the setting, and the snapshot, the sync history and latest.c1z stay as
they were, unless an operator accepts it for that one run with a run tag.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import dagster as dg

from litmos_pipeline.defs.publish import PublishResource, c1_sync_file
from litmos_pipeline.defs.resources import C1Resource, WarehouseResource
from litmos_pipeline.defs.risks import access_risks
from litmos_pipeline.defs.sync import ACCEPT_MASS_REMOVAL_TAG, litmos_sync, sync_assets
from litmos_sandbox.litmos import LitmosSandbox
from litmos_sandbox.litmos.tenant import Tenant, TenantSpec
from tests.conftest import sync_resources
from tests.defs.test_sync import expected_grants, published, step_failures


def sync(resources: dict[str, Any], out_dir: Path, instance: dg.DagsterInstance,
         tags: dict[str, str] | None = None) -> dg.ExecuteInProcessResult:
    """The full `litmos_sync` job (c1z included), C1 not configured, with the run's tags."""
    defs = dg.Definitions(
        assets=[*sync_assets, c1_sync_file, access_risks], jobs=[litmos_sync],
        resources={**resources, "c1": C1Resource(),
                   "publish": PublishResource(c1z_output_dir=str(out_dir))})
    return defs.resolve_job_def("litmos_sync").execute_in_process(
        instance=instance, raise_on_error=False, tags=tags)


def grants_meta(result: dg.ExecuteInProcessResult) -> dict[str, Any]:
    for m in result.asset_materializations_for_node("c1_model"):
        if m.asset_key.to_user_string() == "c1_grants":
            return {k: v.value for k, v in m.metadata.items()}
    raise AssertionError("c1_grants was not materialized")


def unassign_until(tenant: Tenant, share: float) -> int:
    """Unassign course enrollments until more than `share` of the grants are gone."""
    total = len(expected_grants(tenant))
    for course in tenant.courses():
        for enrollment in tenant.course_enrollments(course.id):
            if total - len(expected_grants(tenant)) > share * total:
                return total
            tenant.unassign_course(enrollment.user_id, course.id)
    raise AssertionError("the tenant has too few enrollments for this test")


def good_first_sync(sandbox: LitmosSandbox, tmp_path: Path, instance: dg.DagsterInstance,
                    ) -> tuple[dict[str, Any], Path, tuple[Any, ...]]:
    db, out_dir = tmp_path / "w.duckdb", tmp_path / "c1z"
    resources = sync_resources(sandbox.base_url, sandbox.api_key, db)
    first = sync(resources, out_dir, instance)
    assert first.success
    return resources, out_dir, published(db, out_dir)


def test_first_sync_is_never_held(tiny_sandbox: LitmosSandbox, tmp_path: Path,
                                  instance: dg.DagsterInstance) -> None:
    db, out_dir = tmp_path / "w.duckdb", tmp_path / "c1z"
    # Even a guard that allows no removal at all: there is nothing published to remove.
    resources = sync_resources(tiny_sandbox.base_url, tiny_sandbox.api_key, db)
    resources["warehouse"] = WarehouseResource(duckdb_path=str(db), max_grant_removal="0",
                                               max_user_removal="0%")
    result = sync(resources, out_dir, instance)
    assert result.success and (out_dir / "latest.c1z").exists()
    meta = grants_meta(result)
    assert meta["guard_first_sync"] is True and meta["guard_held"] is False
    assert meta["guard_published_grants"] == 0
    assert meta["guard_new_grants"] == len(expected_grants(tiny_sandbox.tenant))


def test_removing_most_grants_is_held_with_its_figures(
        tiny_sandbox: LitmosSandbox, tmp_path: Path, instance: dg.DagsterInstance) -> None:
    resources, out_dir, before = good_first_sync(tiny_sandbox, tmp_path, instance)
    total = unassign_until(tiny_sandbox.tenant, 0.25)
    left = len(expected_grants(tiny_sandbox.tenant))
    result = sync(resources, out_dir, instance)
    assert not result.success
    failures = step_failures(result)
    assert list(failures) == ["c1_model"]
    message = failures["c1_model"]
    share = f"{(total - left) / total * 100:.4g}%"
    assert (f"it would remove {total - left} of the {total} published grants ({share}; "
            f"{left} in the new snapshot), more than LITMOS_GUARD_MAX_GRANT_REMOVAL=20%"
            ) in message
    assert f"{ACCEPT_MASS_REMOVAL_TAG}=true" in message
    failure = next(e for e in result.all_events if e.is_step_failure)
    meta = {k: v.value for k, v in
            failure.event_specific_data.user_failure_data.metadata.items()}
    assert meta["guard_removed_grants"] == total - left and meta["guard_held"] is True
    assert published(resources["warehouse"].settings().duckdb_path, out_dir) == before
    executed = {e.step_key for e in result.all_events if e.is_step_start}
    assert "c1_sync_file" not in executed  # no c1z written
    assert list((tmp_path / "staging").glob("*")) == []  # the failure hook removed it


def test_accept_tag_publishes_the_same_removal(
        tiny_sandbox: LitmosSandbox, tmp_path: Path, instance: dg.DagsterInstance) -> None:
    resources, out_dir, before = good_first_sync(tiny_sandbox, tmp_path, instance)
    unassign_until(tiny_sandbox.tenant, 0.25)
    result = sync(resources, out_dir, instance, tags={ACCEPT_MASS_REMOVAL_TAG: "true"})
    assert result.success
    db = resources["warehouse"].settings().duckdb_path
    runs, grants, files = published(db, out_dir)
    assert len(runs) == 2 and grants == expected_grants(tiny_sandbox.tenant)
    assert files["latest.c1z"] != before[2]["latest.c1z"]
    meta = grants_meta(result)
    assert meta["guard_accepted"] is True and meta["guard_held"] is False
    warnings = [e.user_message for e in instance.all_logs(result.run_id)
                if e.level == logging.WARNING and ACCEPT_MASS_REMOVAL_TAG in e.user_message]
    assert len(warnings) == 1 and "LITMOS_GUARD_MAX_GRANT_REMOVAL" in warnings[0]
    # For that run only: the next sync is guarded again (and passes: nothing changed).
    again = sync(resources, out_dir, instance)
    assert again.success and grants_meta(again)["guard_accepted"] is False


def test_removal_below_the_limits_passes_with_its_figures(
        tiny_sandbox: LitmosSandbox, tmp_path: Path, instance: dg.DagsterInstance) -> None:
    resources, out_dir, _ = good_first_sync(tiny_sandbox, tmp_path, instance)
    tenant = tiny_sandbox.tenant
    total = len(expected_grants(tenant))
    # One user of ten leaves: exactly the 10% allowed ("more than" is held), and their
    # grants are well under 20% of the published ones.
    leaver = next(u for u in tenant.users()
                  if 0 < sum(g.endswith(f":user:{u.id}") for g in expected_grants(tenant))
                  <= 0.2 * total)
    tenant.delete_user(leaver.id)
    left = len(expected_grants(tenant))
    assert 0 < total - left <= 0.2 * total
    result = sync(resources, out_dir, instance)
    assert result.success
    meta = grants_meta(result)
    assert (meta["guard_published_grants"], meta["guard_new_grants"],
            meta["guard_removed_grants"]) == (total, left, total - left)
    assert (meta["guard_published_users"], meta["guard_removed_users"]) == (10, 1)
    assert meta["guard_removed_users_share"] == 0.1 and meta["guard_max_user_removal"] == 0.1
    assert meta["guard_held"] is False and meta["guard_accepted"] is False


def test_users_leaving_past_the_limit_are_held(
        tiny_sandbox: LitmosSandbox, tmp_path: Path, instance: dg.DagsterInstance) -> None:
    resources, out_dir, before = good_first_sync(tiny_sandbox, tmp_path, instance)
    tenant = tiny_sandbox.tenant
    for user in tenant.users()[:2]:
        tenant.delete_user(user.id)
    result = sync(resources, out_dir, instance)
    assert not result.success
    message = step_failures(result)["c1_model"]
    assert ("it would remove 2 of the 10 published users (20%; 8 in the new snapshot), "
            "more than LITMOS_GUARD_MAX_USER_REMOVAL=10%") in message
    assert published(resources["warehouse"].settings().duckdb_path, out_dir) == before


def test_another_accounts_answer_is_held(tiny_sandbox: LitmosSandbox, tmp_path: Path,
                                         instance: dg.DagsterInstance) -> None:
    """A key of another account: a whole other tenant, none of the published ids in it."""
    resources, out_dir, before = good_first_sync(tiny_sandbox, tmp_path, instance)
    db = resources["warehouse"].settings().duckdb_path
    with LitmosSandbox(Tenant.generate(TenantSpec.preset("tiny", seed=7)),
                       rate_limit_per_minute=None) as other:
        result = sync(sync_resources(other.base_url, other.api_key, db), out_dir, instance)
    assert not result.success
    message = step_failures(result)["c1_model"]
    assert "LITMOS_GUARD_MAX_GRANT_REMOVAL=20%" in message
    assert "it would remove 10 of the 10 published users (100%" in message
    assert published(db, out_dir) == before
