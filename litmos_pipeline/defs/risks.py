"""access_risks: what a reviewer should look at first, from the snapshot and its history.

SQL over the main DuckDB file (warehouse/sql/risks.sql): disabled users still holding
access, team leaders and admins without a recent login (once last logins are synced),
inactive courses with learners, and grants that appeared in Litmos without a C1 request.
A non-blocking check warns when a snapshot shows risks no earlier one did.
"""

from typing import Any

import dagster as dg

from litmos_pipeline.defs.resources import WarehouseResource
from litmos_pipeline.warehouse import store

RISKS = ("disabled_user_holds_access", "team_role_without_recent_login",
         "inactive_course_with_learners", "granted_outside_c1")


@dg.asset(
    group_name="c1_model", kinds={"duckdb"}, deps=["c1_grants", "access_changes"],
    description="Access risks for reviewers, each with its reason: disabled users still "
                "holding access, team leaders/admins with no sign-in seen or none for "
                "LITMOS_RISK_IDLE_DAYS (last logins: LITMOS_LAST_LOGIN_DAYS), inactive "
                "courses with learners, grants added in Litmos outside C1.",
    check_specs=[dg.AssetCheckSpec(
        "no_new_risks", asset="access_risks",
        description="Warns when this snapshot shows risks no earlier snapshot showed.")],
)
def access_risks(context: dg.AssetExecutionContext,
                 warehouse: WarehouseResource) -> dg.MaterializeResult:
    with warehouse.main() as main:
        latest = main.execute("SELECT sync_id FROM sync_runs ORDER BY finished_at DESC "
                              "LIMIT 1").fetchone()
        params = {"now": store.now_utc(), "idle_days": warehouse.settings().risk_idle_days,
                  "sync_id": latest[0] if latest else None}
        main.execute("BEGIN")
        store.run_sql(main, "risks.sql", "schema")
        store.run_sql(main, "risks.sql", "access_risks", params)
        store.run_sql(main, "risks.sql", "record_risks", params)
        main.execute("COMMIT")
        figures = {row[0]: (int(row[1]), int(row[2]))
                   for row in store.run_sql(main, "risks.sql", "figures", params)}
        preview = store.preview_markdown(
            main, "SELECT risk, reason, user_name, user_login, resource_name FROM access_risks",
            limit=20)
    total = sum(n for n, _ in figures.values())
    new = sum(n for _, n in figures.values())
    # Numbers per kind: Dagster plots numeric metadata across materializations.
    metadata: dict[str, Any] = {"risks": total, "new_risks": new,
                                **{kind: figures.get(kind, (0, 0))[0] for kind in RISKS},
                                "preview": dg.MetadataValue.md(preview)}
    if new:
        context.log.warning(f"{new} new access risk(s) in this snapshot; see access_risks")
    return dg.MaterializeResult(
        metadata=metadata,
        check_results=[dg.AssetCheckResult(
            check_name="no_new_risks", passed=new == 0, severity=dg.AssetCheckSeverity.WARN,
            metadata={"new_risks": new,
                      **{f"new_{kind}": figures.get(kind, (0, 0))[1] for kind in RISKS}})])


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(assets=[access_risks])
