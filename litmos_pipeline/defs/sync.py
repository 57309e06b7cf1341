"""The sync: Litmos extract assets -> C1 model in DuckDB -> access changes; job + schedule."""

import time
from collections.abc import Iterator, Mapping
from datetime import UTC
from typing import Any

import dagster as dg

from litmos_pipeline import catalog, workers
from litmos_pipeline import settings as cfg
from litmos_pipeline.defs.resources import LitmosResource, WarehouseResource, sync_identity
from litmos_pipeline.litmos.client import LitmosClient
from litmos_pipeline.warehouse import extract, logins, snapshot, store
from litmos_pipeline.warehouse.guard import RemovalFigures, RemovalLimits

# Pools hold one step at a time across runs (dagster.yaml: default_limit 1): the extract
# (one API key, one long read), the model build and swap (memory), and the refresh's
# delta read. A refresh can so run beside a long sync's extract, never beside its model.
SYNC_POOL = "litmos_sync"
MODEL_POOL = "litmos_model"
# The run queue takes higher priorities first: a sync asked for behind a burst of queued
# provisioning runs (hundreds of approvals at once) is not starved by them.
SYNC_TAGS = {"litmos/sync": "full", "dagster/priority": "10"}
# An operator's acceptance of a sync the mass-revocation guard would hold, for one run. A
# run tag rather than run config: the launchpad's tag editor (and `dagster job execute
# --tags`) sets it without writing the c1_model step's config, the runs list shows and
# filters it (who accepted what, when), and neither the schedule nor the C1 task sensor
# ever sets it. (`dg launch` 1.13 takes no tags.)
ACCEPT_MASS_REMOVAL_TAG = "litmos/accept_mass_removal"
EXTRACT = {"group_name": "litmos_extract", "kinds": {"litmos", "duckdb"}}
MODEL = {"group_name": "c1_model", "kinds": {"duckdb"}}

# A refresh's input (defs/refresh.py): the snapshot plus Litmos' changes, built by the same
# c1_model as a sync's extract.
DELTA = "litmos_delta"

# Extract asset -> (raw table, preview query), from the catalog: one asset per raw table.
EXTRACT_TABLES = {spec.typed: (spec.table, spec.preview) for spec in catalog.RECORD_SPECS}


def team_roles(settings: cfg.LitmosSettings) -> tuple[str, ...]:
    """The team-role lists a sync reads: members, and leaders and admins with
    LITMOS_SYNC_TEAM_ROLES."""
    return tuple(catalog.TEAM_ROLE_PATHS) if settings.sync_team_roles else ("member",)


def enabled_options(settings: cfg.LitmosSettings) -> tuple[str, ...]:
    """The catalog's sync options (LITMOS_SYNC_MODULES, ...) this deployment turns on."""
    return tuple(name for name in catalog.OPTIONS if getattr(settings, name))


def _stage_known_logins(con: Any, warehouse: WarehouseResource) -> int:
    """The last logins the published snapshot knows (none before the first sync: the
    warehouse file is not created by an extract)."""
    if not warehouse.settings().duckdb_path.exists():
        return logins.stage_known(con, None)
    with warehouse.main() as main:
        return logins.stage_known(con, main)


def _step_metadata(client: LitmosClient, started: float, rows: int) -> dict[str, Any]:
    """The extract step's API figures, shared by its five assets (prefixed extract_)."""
    elapsed = time.monotonic() - started
    return {
        **{f"extract_{key}": value for key, value in client.stats.as_metadata().items()},
        "extract_elapsed_s": round(elapsed, 2),
        "extract_rows_per_s": round(rows / elapsed, 1) if elapsed else None,
    }


@dg.multi_asset(
    name="litmos_extract",
    specs=[dg.AssetSpec(spec.typed, **EXTRACT, description=spec.description)
           for spec in catalog.RECORD_SPECS],
    check_specs=[
        dg.AssetCheckSpec("users_not_empty", asset="litmos_users", blocking=True,
                          description="An empty user list would revoke everyone."),
        dg.AssetCheckSpec("configured_courses_found", asset="litmos_courses", blocking=True,
                          description="Every id in LITMOS_COURSE_IDS exists in Litmos: a "
                                      "mistyped id would publish a snapshot without its "
                                      "course and revoke its grants."),
    ],
    pool=SYNC_POOL,
)
def litmos_extract(context: dg.AssetExecutionContext, litmos: LitmosResource,
                   warehouse: WarehouseResource) -> Iterator[dg.MaterializeResult]:
    """One step stages every Litmos list, so the API is kept busy from first to last page.

    These assets are only useful together: the C1 model is built from one run's
    staging file, and refuses a run that staged only some of them.
    """
    started = time.monotonic()
    settings = litmos.settings()
    roles = team_roles(settings)
    budget = warehouse.key_budget_path()
    with litmos.client(context.log, budget_path=budget) as client, \
            warehouse.staging(context.run_id) as con:
        results = extract.load_all(con, client, course_ids=settings.course_ids, roles=roles,
                                   options=enabled_options(settings),
                                   progress=context.log.info)
        signed_in, login_pages = logins.read_logins(con, client, store.now_utc(),
                                                    settings.last_login_days)
        known = _stage_known_logins(con, warehouse)
        previews = {asset: store.preview_markdown(con, sql)
                    for asset, (_, sql) in EXTRACT_TABLES.items()}
    rows = {asset: results[table].rows for asset, (table, _) in EXTRACT_TABLES.items()}
    context.log.info(
        "staged " + ", ".join(f"{n} {asset.removeprefix('litmos_')}" for asset, n in rows.items())
        + f" in {client.stats.requests} requests")
    step = _step_metadata(client, started, sum(rows.values()))
    # The floor (pages a list of n records takes at 1,000 a page, floor(n/1000)+1, summed)
    # beside the requests made, plotted across syncs: retries and waste show as a gap.
    step["extract_request_floor"] = sum(r.pages for r in results.values()) + login_pages
    extra: dict[str, dict[str, Any]] = {
        "litmos_courses": {"course_filter": ", ".join(settings.course_ids) or "all courses"},
        "litmos_users": {"last_login_days": settings.last_login_days,
                         "signed_in_within_look_back": signed_in,
                         "last_login_pages": login_pages,
                         "last_logins_kept_from_the_snapshot": known},
        # Per-resource lists: how many parents were read (teams, courses), and the roles.
        **{spec.typed: {f"{rt.id}s": results[spec.table].parents,
                        **({"roles": ", ".join(roles)} if any(
                            lst.variant for lst in rt.children) else {})}
           for rt in catalog.CATALOG for spec in catalog.child_specs(rt)},
    }
    missing = results["raw_courses"].missing_ids
    if missing:
        extra["litmos_courses"]["warning"] = ("LITMOS_COURSE_IDS lists courses Litmos does "
                                              "not know: " + ", ".join(missing))
    checks = {
        "litmos_users": [dg.AssetCheckResult(
            asset_key="litmos_users", check_name="users_not_empty", passed=rows["litmos_users"] > 0,
            metadata={"users": rows["litmos_users"]})],
        "litmos_courses": [dg.AssetCheckResult(
            asset_key="litmos_courses", check_name="configured_courses_found", passed=not missing,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={"missing_course_ids": ", ".join(missing) or "none"})],
    }
    for asset, (table, _) in EXTRACT_TABLES.items():
        yield dg.MaterializeResult(
            asset_key=asset,
            metadata={"rows": rows[asset], "api_pages": results[table].pages,
                      **extra.get(asset, {}), **step,
                      "preview": dg.MetadataValue.md(previews[asset])},
            check_results=checks.get(asset, []),
        )
    if missing:
        # The blocking check alone would fail the step without saying which ids; this
        # failure (raised before Dagster's) names them. Nothing downstream runs either way.
        raise dg.Failure(description=extra["litmos_courses"]["warning"]
                         + "; nothing was published", allow_retries=False)


C1_MODEL_CHECKS = [
    dg.AssetCheckSpec("grants_reference_existing", asset="c1_grants", blocking=True,
                      description="Every grant's entitlement and principal exist."),
    dg.AssetCheckSpec("ids_unique", asset="c1_grants", blocking=True,
                      description="Resource, entitlement and grant ids are unique."),
    dg.AssetCheckSpec("course_filter_respected", asset="c1_resources",
                      description="With LITMOS_COURSE_IDS set, no other course is synced."),
]


def accepts_mass_removal(tags: Mapping[str, str]) -> bool:
    """The run carries the accept tag set to true (true/1/yes/on); anything else holds."""
    return tags.get(ACCEPT_MASS_REMOVAL_TAG, "").strip().lower() in cfg.TRUE_WORDS


def removal_limits(warehouse: cfg.WarehouseSettings,
                   tags: Mapping[str, str]) -> RemovalLimits:
    return RemovalLimits(max_grant_removal=warehouse.max_grant_removal,
                         max_user_removal=warehouse.max_user_removal,
                         accepted=accepts_mass_removal(tags))


def held_message(sync_id: str, figures: RemovalFigures, tags: Mapping[str, str],
                 job: str = "litmos_sync") -> str:
    """Why the guard held the sync, with its figures, and the two ways on from here."""
    given = tags.get(ACCEPT_MASS_REMOVAL_TAG)
    note = (f". This run's tag {ACCEPT_MASS_REMOVAL_TAG} is {given!r}, not true"
            if given is not None else "")
    return (f"sync {sync_id} not published: the mass-revocation guard held it: "
            f"{figures.describe()}. The published snapshot, the sync history and latest.c1z "
            "are unchanged. If Litmos answered for the wrong account or only in part, check "
            "LITMOS_SOURCE, LITMOS_API_KEY's account and LITMOS_BASE_URL; if the access "
            f"really went, launch {job} again with the run tag "
            f"{ACCEPT_MASS_REMOVAL_TAG}=true (it accepts that one run only){note}")


@dg.multi_asset(
    specs=[
        dg.AssetSpec("c1_resource_types", **MODEL, description="C1 resource types."),
        dg.AssetSpec("c1_resources", **MODEL,
                     deps=[*(s.typed for s in catalog.RESOURCE_SPECS), DELTA],
                     description="Users (user trait), teams (group trait, parent team), "
                                 "courses."),
        dg.AssetSpec("c1_entitlements", **MODEL,
                     deps=[*(rt.records.typed for rt in catalog.CATALOG if rt.entitlements),
                           DELTA],
                     description=catalog.entitlement_patterns() + "."),
        dg.AssetSpec("c1_grants", **MODEL,
                     deps=[*(spec.typed for spec in catalog.CHILD_SPECS), DELTA],
                     description="Who holds which entitlement, with C1's grant ids."),
    ],
    check_specs=C1_MODEL_CHECKS,
    pool=MODEL_POOL,
)
def c1_model(context: dg.AssetExecutionContext, litmos: LitmosResource,
             warehouse: WarehouseResource) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
    """Builds C1's model from this run's staged extract, checks it, then swaps it in."""
    started = time.monotonic()
    identity = sync_identity(context)
    settings = litmos.settings()
    warehouse_settings = warehouse.settings()
    stage_path = warehouse.staging_path(context.run_id)
    # Both DuckDB-heavy steps run in lean worker processes (see litmos_pipeline.workers).
    model = workers.call(snapshot.build_and_check, stage_path=stage_path,
                         memory_limit=warehouse_settings.memory_limit,
                         sync_team_roles=settings.sync_team_roles,
                         course_ids=list(settings.course_ids))
    counts, integrity = model.counts, model.integrity
    skipped, outside_filter = model.skipped_principals, model.courses_outside_filter
    built_s = time.monotonic() - started
    broken = {k: v for k, v in integrity.items() if v}
    yield dg.AssetCheckResult(
        asset_key="c1_grants", check_name="grants_reference_existing",
        passed=integrity["dangling_grants"] == 0,
        metadata={"dangling_grants": integrity["dangling_grants"],
                  "principals_not_in_user_list": skipped})
    dup_keys = [k for k in integrity if k.startswith("duplicate")]
    yield dg.AssetCheckResult(
        asset_key="c1_grants", check_name="ids_unique",
        passed=not any(integrity[k] for k in dup_keys),
        metadata={k: integrity[k] for k in dup_keys})
    yield dg.AssetCheckResult(
        asset_key="c1_resources", check_name="course_filter_respected",
        passed=not outside_filter, severity=dg.AssetCheckSeverity.ERROR,
        metadata={"courses_outside_filter": ", ".join(outside_filter) or "none"})
    if broken or outside_filter:
        raise snapshot.SnapshotRefused(
            f"sync {identity.sync_id} not published; the model failed its checks: "
            + ", ".join(f"{k}={v}" for k, v in broken.items())
            + (f" courses outside LITMOS_COURSE_IDS: {outside_filter}" if outside_filter
               else ""))

    swap_started = time.monotonic()
    tags = context.run.tags
    result = workers.call(snapshot.publish, main_path=warehouse_settings.duckdb_path,
                          stage_path=stage_path, memory_limit=warehouse_settings.memory_limit,
                          sync_id=identity.sync_id, run_id=identity.run_id,
                          started_at=identity.started_at,
                          retention=warehouse_settings.history_retention_syncs,
                          limits=removal_limits(warehouse_settings, tags))
    if isinstance(result, RemovalFigures):
        # Held: nothing was swapped; the step fails, so no c1z is written either.
        raise dg.Failure(description=held_message(identity.sync_id, result, tags,
                                                  context.job_name),
                         metadata=result.as_metadata(), allow_retries=False)
    if result.guard.limits.accepted and result.guard.breaches():
        context.log.warning(
            f"sync {identity.sync_id}: mass removal accepted by the run tag "
            f"{ACCEPT_MASS_REMOVAL_TAG}: {result.guard.describe()}")
    swap_s = time.monotonic() - swap_started
    context.log.info(
        f"sync {identity.sync_id} published: {result.counts['c1_grants']} grants "
        f"(+{result.added} / -{result.removed}); main file held {swap_s:.1f}s")
    # snapshot_read_at: when this snapshot began reading Litmos, which the task sensor
    # reads to answer C1's sync tasks from a young enough one (LITMOS_SNAPSHOT_MAX_AGE_S).
    common = {"sync_id": identity.sync_id, "snapshot_kind": result.kind,
              "snapshot_read_at": identity.started_at.replace(tzinfo=UTC).timestamp(),
              "transform_s": round(built_s, 2), "swap_s": round(swap_s, 2)}
    for table in snapshot.C1_TABLES:
        metadata: dict[str, Any] = {"rows": result.counts[table], **common,
                                    "preview": dg.MetadataValue.md(model.previews[table])}
        if table == "c1_resources":
            metadata.update({t: counts[t] for t in snapshot.TYPED_TABLES})
        if table == "c1_grants":
            metadata.update(grants_added=result.added, grants_removed=result.removed,
                            previous_sync_id=result.previous_sync_id or "none",
                            duplicate_records_from_litmos=sum(model.duplicates.values()),
                            principals_not_in_user_list=skipped, **result.guard.as_metadata())
            # Numbers, so the UI's Plots tab draws each kind across syncs and refreshes.
            metadata.update({f"grants_{kind}": n for kind, n in model.grants_by_kind.items()})
        yield dg.MaterializeResult(asset_key=table, metadata=metadata)


@dg.asset(
    group_name="c1_model", kinds={"duckdb"}, deps=["c1_grants"],
    description="Grants added and removed by the newest sync (and provisioning since): what "
                "an access reviewer wants to see first.",
)
def access_changes(context: dg.AssetExecutionContext,
                   warehouse: WarehouseResource) -> dg.MaterializeResult:
    with warehouse.main() as main:
        store.run_sql(main, "main.sql", "access_changes")
        added, removed = main.execute(
            "SELECT count(*) FILTER (change = 'added'), count(*) FILTER (change = 'removed') "
            "FROM access_changes").fetchone()
        latest = main.execute(
            "SELECT sync_id, previous_sync_id FROM sync_runs ORDER BY finished_at DESC LIMIT 1"
        ).fetchone()
        preview = store.preview_markdown(
            main, "SELECT change, entitlement_name, user_name, user_login FROM access_changes")
    baseline = latest is not None and latest[1] is None
    return dg.MaterializeResult(metadata={
        "added": added, "removed": removed,
        "sync_id": latest[0] if latest else "none",
        "note": "first sync: the baseline, no changes to compare" if baseline else "",
        "preview": dg.MetadataValue.md(preview),
    })


sync_assets = [litmos_extract, c1_model, access_changes]


@dg.failure_hook(required_resource_keys={"warehouse"})
def discard_staging_on_failure(context: dg.HookContext) -> None:
    """A failed step (an error, a blocking check) leaves a staging file of personal data
    that no later step will read: remove it now, also for runs no daemon watches."""
    context.resources.warehouse.discard_staging(context.run_id)


# What define_asset_job returns: dagster exports no name for its type (the job is resolved
# against the asset graph when the definitions load), so it is typed by its use here.
AssetJob = Any


def sync_job(extra_selection: dg.AssetSelection | None = None) -> AssetJob:
    selection = dg.AssetSelection.assets(*sync_assets)
    if extra_selection is not None:
        selection = selection | extra_selection
    return dg.define_asset_job(
        "litmos_sync", selection=selection, tags=SYNC_TAGS, hooks={discard_staging_on_failure},
        description="A full Litmos sync: extract, model, swap the snapshot, publish the c1z.",
    )


def sync_schedule(job: AssetJob) -> dg.ScheduleDefinition:
    schedule = cfg.load(cfg.ScheduleSettings)
    return dg.ScheduleDefinition(
        name="litmos_sync_schedule", job=job, cron_schedule=schedule.sync_cron,
        execution_timezone=schedule.timezone,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Runs the full sync (LITMOS_SYNC_CRON, daily by default).",
    )


# The c1z (defs/publish.py, which imports this module) is the full sync's last step; the
# reviewers' risk view (defs/risks.py) is built from the same snapshot.
litmos_sync = sync_job(extra_selection=dg.AssetSelection.assets("c1_sync_file",
                                                                "access_risks"))


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(assets=sync_assets, jobs=[litmos_sync],
                          schedules=[sync_schedule(litmos_sync)])
