"""The delta refresh: Litmos' changes since the current snapshot, published like a sync.

`litmos_delta` reads the delta queries (a few requests, whatever the tenant's size) and
applies them onto a copy of the snapshot in the run's staging file; the sync's own
`c1_model`, `access_changes` and `c1_sync_file` then build, check, guard, swap and write
it. A refresh costs what changed: the full sync stays the reconciler of the removals
Litmos does not report.
"""

import time
from typing import Any

import dagster as dg

from litmos_pipeline import catalog, workers
from litmos_pipeline import settings as cfg
from litmos_pipeline.defs.resources import LitmosResource, WarehouseResource
from litmos_pipeline.defs.sync import (
    EXTRACT,
    AssetJob,
    discard_staging_on_failure,
    litmos_sync,
)
from litmos_pipeline.warehouse import refresh, store

# One refresh at a time (dagster.yaml limits the tag litmos/refresh to one run), beside a
# sync if one runs: every 15 minutes must not wait 83 minutes behind a full sync's read.
# Queued behind provisioning runs it goes before them, after a sync.
REFRESH_TAGS = {"litmos/refresh": "delta", "dagster/priority": "5"}
REFRESH_POOL = "litmos_refresh"
FULL_LISTS = {dg.AssetKey(spec.typed) for spec in catalog.RECORD_SPECS}
REFRESH_JOB = "litmos_refresh"


@dg.asset(
    name="litmos_delta", **EXTRACT, pool=REFRESH_POOL,
    description="Litmos' changes since the current snapshot (delta queries: users, teams, "
                "courses, team and course assignments, course results), applied onto a copy "
                "of it: what a refresh publishes. Removals Litmos does not report wait for "
                "the next full sync.",
)
def litmos_delta(context: dg.AssetExecutionContext, litmos: LitmosResource,
                 warehouse: WarehouseResource) -> dg.MaterializeResult:
    # The run's assets: its selection, or (none) every asset of its job.
    in_run = (context.run.asset_selection
              or context.job_def.asset_layer.executable_asset_keys)
    if FULL_LISTS & set(in_run):
        # "Materialize all": this run reads Litmos' full lists, which the model uses; a
        # refresh in the same staging file would only repeat part of them. (Yielding
        # nothing would skip the model downstream.)
        context.log.info("litmos_delta: nothing to read, this run is a full sync")
        return dg.MaterializeResult(metadata={
            "skipped": "this run read Litmos' full lists (a full sync); no delta was read"})
    return _refresh(context, litmos, warehouse)


def _refresh(context: dg.AssetExecutionContext, litmos: LitmosResource,
             warehouse: WarehouseResource) -> dg.MaterializeResult:
    started = time.monotonic()
    settings, stored = litmos.settings(), warehouse.settings()
    try:
        with warehouse.main() as main:
            window = refresh.plan_window(main, store.now_utc(), stored.refresh_overlap_s)
    except refresh.RefreshRefused as refused:
        raise dg.Failure(description=f"refresh not run: {refused}", allow_retries=False
                         ) from None
    context.log.info(f"reading Litmos' changes from {window.since} to {window.to} UTC "
                     f"(onto {window.previous_kind} {window.previous_sync_id})")
    with litmos.client(context.log, budget_path=warehouse.key_budget_path()) as client, \
            warehouse.staging(context.run_id) as con:
        reads = refresh.read_delta(con, client, window, progress=context.log.info)
    roles = ["member", "leader", "admin"] if settings.sync_team_roles else ["member"]
    report = workers.call(refresh.apply, main_path=stored.duckdb_path,
                          stage_path=warehouse.staging_path(context.run_id),
                          memory_limit=stored.memory_limit, roles=roles,
                          course_ids=list(settings.course_ids))
    age_h = (store.now_utc() - window.unreconciled_since).total_seconds() / 3600
    context.log.info(
        f"applied {sum(r.rows for r in reads.values())} changed records in "
        f"{client.stats.requests} requests; removals Litmos does not report may be up to "
        f"{age_h:.1f} h old (since full sync {window.full_sync_id})")
    metadata: dict[str, Any] = {
        "window_since": str(window.since), "window_to": str(window.to),
        "refreshes": f"{window.previous_kind} {window.previous_sync_id}",
        "requests": client.stats.requests,
        **{f"{table.removeprefix('raw_delta_')}_records": r.rows for table, r in reads.items()},
        **report.figures,
        **{f"{table}_rows": n for table, n in report.counts.items()},
        "full_sync_id": window.full_sync_id,
        "unreconciled_removals_since": str(window.unreconciled_since),
        "unreconciled_removals_max_age_h": round(age_h, 2),
        "elapsed_s": round(time.monotonic() - started, 2),
    }
    return dg.MaterializeResult(metadata=metadata)


def refresh_job() -> AssetJob:
    # The sync's model, changes and c1z steps, fed by litmos_delta instead of the extract.
    selection = (dg.AssetSelection.assets(litmos_delta)
                 | dg.AssetSelection.assets("c1_resource_types", "c1_resources",
                                            "c1_entitlements", "c1_grants", "access_changes",
                                            "c1_sync_file", "access_risks"))
    return dg.define_asset_job(
        REFRESH_JOB, selection=selection, tags=REFRESH_TAGS,
        hooks={discard_staging_on_failure},
        description="Litmos' changes since the current snapshot (delta queries), applied and "
                    "published like a sync: model, checks, guard, swap, c1z.",
    )


litmos_refresh = refresh_job()
ACTIVE = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED,
          dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]


def refresh_schedule(job: AssetJob) -> dg.ScheduleDefinition:
    schedule = cfg.load(cfg.ScheduleSettings)

    @dg.schedule(
        name="litmos_refresh_schedule", job=job, cron_schedule=schedule.refresh_cron,
        execution_timezone=schedule.timezone,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Runs the delta refresh (LITMOS_REFRESH_CRON, every 15 minutes by "
                    "default) once a full sync has succeeded, and not while one is queued.",
    )
    def litmos_refresh_schedule(context: dg.ScheduleEvaluationContext):
        instance = context.instance
        synced = instance.get_runs(dg.RunsFilter(
            job_name=litmos_sync.name, statuses=[dg.DagsterRunStatus.SUCCESS]), limit=1)
        if not synced:
            return dg.SkipReason("no full sync has succeeded yet: a refresh applies Litmos' "
                                 "changes onto one")
        waiting = instance.get_runs(dg.RunsFilter(job_name=REFRESH_JOB, statuses=ACTIVE),
                                    limit=1)
        if waiting:
            return dg.SkipReason(f"refresh run {waiting[0].run_id} has not ended yet")
        return dg.RunRequest()

    return litmos_refresh_schedule


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(assets=[litmos_delta], jobs=[litmos_refresh],
                          schedules=[refresh_schedule(litmos_refresh)])
