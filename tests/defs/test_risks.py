"""access_risks after real syncs of the sandbox: each rule, its reason, new-risk warning."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb

from litmos_pipeline.defs.risks import access_risks
from litmos_pipeline.defs.sync import sync_assets
from litmos_sandbox.litmos import LitmosSandbox
from tests.conftest import sync_resources


def sync(sandbox: LitmosSandbox, db: Path, instance: dg.DagsterInstance
         ) -> dg.ExecuteInProcessResult:
    result = dg.materialize([*sync_assets, access_risks], instance=instance,
                            resources=sync_resources(sandbox.base_url, sandbox.api_key, db))
    assert result.success
    return result


def risks(db: Path) -> list[tuple[str, str, str | None, str | None]]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute("SELECT risk, reason, user_id, resource_id FROM access_risks"
                           ).fetchall()


def check(result: dg.ExecuteInProcessResult) -> dg.AssetCheckEvaluation:
    [evaluation] = [e for e in result.get_asset_check_evaluations()
                    if e.check_name == "no_new_risks"]
    return evaluation


def test_each_rule_and_the_new_risk_warning(tiny_sandbox: LitmosSandbox, tmp_path: Path,
                                            instance: dg.DagsterInstance) -> None:
    db, tenant = tmp_path / "w.duckdb", tiny_sandbox.tenant
    sync(tiny_sandbox, db, instance)
    baseline = risks(db)
    # The tiny tenant's inactive users who hold access are flagged, with what they hold.
    inactive = {u.id for u in tenant.users() if not u.active}
    flagged = {r[2] for r in baseline if r[0] == "disabled_user_holds_access"}
    assert flagged and flagged <= inactive
    assert all("inactive in Litmos, still holds" in r[1] for r in baseline
               if r[0] == "disabled_user_holds_access")
    # No last logins synced: no one is flagged for not logging in.
    assert not [r for r in baseline if r[0] == "team_role_without_recent_login"]
    assert not [r for r in baseline if r[0] == "granted_outside_c1"]  # the baseline

    # A grant made in Litmos, not through C1, shows up as new at the next sync.
    user = next(u for u in tenant.users() if u.active)
    course = next(c for c in tenant.courses() if tenant.enrollment(user.id, c.id) is None)
    tenant.assign_courses(user.id, [course.id])
    second = sync(tiny_sandbox, db, instance)
    outside = [r for r in risks(db) if r[0] == "granted_outside_c1"]
    assert (user.id, course.id) in {(r[2], r[3]) for r in outside}
    assert "without a C1 request" in outside[0][1]
    evaluation = check(second)
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.WARN
    assert evaluation.metadata["new_granted_outside_c1"].value == 1

    # Seen before: not new again.
    assert check(sync(tiny_sandbox, db, instance)).passed
