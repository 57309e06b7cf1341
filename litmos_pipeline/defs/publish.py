"""Publishing to C1: the c1z sync file, C1's task loop sensor, and failure reporting."""

import logging
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg

from litmos_pipeline import c1z_process, files
from litmos_pipeline import settings as cfg
from litmos_pipeline.defs.provisioning import provision_job
from litmos_pipeline.defs.refresh import litmos_refresh
from litmos_pipeline.defs.resources import (
    C1Resource,
    PublishResource,
    WarehouseResource,
    run_sync_identity,
    sync_identity,
)
from litmos_pipeline.defs.sync import SYNC_TAGS, litmos_sync
from litmos_pipeline.defs.targeted import PARTIAL_DIR, TARGETED_OP, targeted_sync_job
from litmos_pipeline.taskloop.finish import finish_for_failed_run, upload_and_finish
from litmos_pipeline.taskloop.loop import TaskLoop
from litmos_pipeline.taskloop.requests import ANSWER_TAG, RunTargets
from litmos_pipeline.taskloop.tags import TASK_ID_TAG, unfinished_tasks
from litmos_pipeline.warehouse import snapshot, store

log = logging.getLogger(__name__)

PUBLISH = {"group_name": "c1_publish", "kinds": {"c1", "sqlite"}}
LATEST = "latest.c1z"
FAILURE_SENSOR_INTERVAL_S = 5


@dg.asset(
    **PUBLISH,
    deps=["c1_resource_types", "c1_resources", "c1_entitlements", "c1_grants"],
    description="The sync as a version-1 c1z file in C1Z_OUTPUT_DIR (newest also as "
                "latest.c1z); uploaded to C1 when the run serves a C1 sync task.",
)
def c1_sync_file(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                 publish: PublishResource, c1: C1Resource) -> dg.MaterializeResult:
    out_dir = publish.settings().c1z_output_dir
    files.protect_process()
    files.private_dir(out_dir, pattern="*.c1z")
    stage_path = warehouse.staging_path(context.run_id)
    answering = ANSWER_TAG in context.run.tags
    sync_id, started_at, served_by = _stage_published_snapshot(context, warehouse, stage_path,
                                                               answering=answering)
    dest = out_dir / f"{sync_id}.c1z"
    # In a lean child process: the writer's buffers on top of this process's imports
    # would go past the memory a run may use.
    summary = c1z_process.write_c1z_file(dest, stage_path, sync_id=sync_id,
                                         started_at=started_at.replace(tzinfo=UTC),
                                         ended_at=datetime.now(UTC),
                                         memory_limit=warehouse.settings().memory_limit)
    _point_latest(dest)
    removed = files.prune_newest(out_dir, "*.c1z", publish.settings().keep_c1z_files,
                                 spare=LATEST)
    warehouse.discard_staging(context.run_id)
    grants = summary.counts.get("grants", 0)
    seconds = summary.total_seconds
    context.log.info(f"wrote {dest.name}: {summary.size_bytes} bytes, {grants} grants "
                     f"in {seconds:.1f}s")
    metadata: dict[str, Any] = {
        "path": dg.MetadataValue.path(str(dest)),
        "sync_id": sync_id,
        "size_bytes": summary.size_bytes,
        "sqlite_bytes": summary.sqlite_bytes,
        "sha256": summary.sha256,
        **{name: n for name, n in summary.counts.items()},
        "write_s": round(seconds, 2),
        **{f"{stage}_s": round(t, 2) for stage, t in summary.stage_seconds.items()},
        "grants_per_s": round(grants / seconds) if seconds else None,
        "old_files_removed": removed,
    }
    task_id = context.run.tags.get(TASK_ID_TAG)
    if task_id and c1.configured:
        metadata.update(upload_and_finish(c1.run_client(), context.instance, context.run_id,
                                          task_id, dest, c1.heartbeat, context.log,
                                          served_by=served_by))
        metadata.update({f"served_by_{k}": v for k, v in served_by.items()})
    return dg.MaterializeResult(metadata=metadata)


def _stage_published_snapshot(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                              stage_path: Path, *, answering: bool,
                              ) -> tuple[str, datetime, dict[str, Any]]:
    """The snapshot to write: this run's, or (run alone) the current one copied out briefly.

    Also what a C1 sync task served by this file is told: a full sync's, or (`answering`,
    the answer job) the current snapshot's, under this run's own sync id (each answer is
    a sync of its own to C1), with its kind and age.
    """
    identity = sync_identity(context)
    with warehouse.main() as main:
        row = main.execute("SELECT sync_id, started_at, coalesce(kind, 'sync') FROM sync_runs "
                           "ORDER BY finished_at DESC LIMIT 1").fetchone()
        if row is None:
            raise snapshot.SnapshotRefused("no sync has been published yet: run litmos_sync")
        sync_id, started_at, kind = row
        if sync_id == identity.sync_id and stage_path.exists():
            served = "full_sync" if kind == "sync" else "refresh"
            return sync_id, started_at, {"served_by": served, "sync_id": sync_id}
        store.attach(main, stage_path, "stage")
        try:
            for table in snapshot.C1_TABLES:
                main.execute(f"CREATE OR REPLACE TABLE stage.{table} AS FROM {table}")
        finally:
            main.execute("DETACH stage")
    if not answering:
        return sync_id, started_at, {"served_by": "snapshot", "sync_id": sync_id}
    age_s = (store.now_utc() - started_at).total_seconds()
    context.log.info(f"answering C1's sync task with the current snapshot: {kind} {sync_id}, "
                     f"read from Litmos {age_s:.0f} s ago")
    return identity.sync_id, started_at, {
        "served_by": "snapshot", "sync_id": identity.sync_id, "snapshot_kind": kind,
        "snapshot_sync_id": sync_id, "snapshot_age_s": round(age_s)}


def _point_latest(dest: Path) -> None:
    # A hard link renamed into place: readers of latest.c1z see the old file or the new one.
    tmp = dest.parent / f".{LATEST}.{os.getpid()}"
    tmp.unlink(missing_ok=True)
    os.link(dest, tmp)
    os.replace(tmp, dest.parent / LATEST)


def build_task_sensor(sync_job: Any, provision_job: Any, interval_s: int, running: bool,
                      loop: TaskLoop | None = None, answer_job: Any = None,
                      snapshot_max_age_s: float = 0.0,
                      targeted_job: Any = None) -> dg.SensorDefinition:
    """C1's task loop as a sensor; `loop` keeps what outlives a tick (hello, token).

    With `answer_job`, a sync task is answered with the current snapshot while it is at
    most `snapshot_max_age_s` old (LITMOS_SNAPSHOT_MAX_AGE_S), else by a full sync. With
    `targeted_job`, a sync task naming resources gets a partial sync of just those.
    """
    loop = loop or TaskLoop()
    targets = RunTargets(sync_job=sync_job.name, provision_job=provision_job.name,
                         provision_op="provision_task", sync_tags=SYNC_TAGS,
                         answer_job=answer_job.name if answer_job is not None else None,
                         snapshot_max_age_s=snapshot_max_age_s,
                         targeted_job=targeted_job.name if targeted_job is not None else None,
                         targeted_op=TARGETED_OP)
    jobs = [sync_job, provision_job,
            *(job for job in (answer_job, targeted_job) if job is not None)]

    # Dagster's sensor loop comes round every 5 s and skips a sensor whose last tick is a
    # hair younger than its minimum interval, so "5" would tick every 10 s. Declaring one
    # second less makes every loop tick; the tick itself polls C1 for the rest.
    @dg.sensor(
        name="c1_task_sensor", jobs=jobs,
        minimum_interval_seconds=max(1, interval_s - 1),
        default_status=dg.DefaultSensorStatus.RUNNING if running
        else dg.DefaultSensorStatus.STOPPED,
        description="Polls C1 (GetTask) and turns sync_full tasks into litmos_sync runs (or "
                    "litmos_answer_sync runs while the snapshot is young enough) and "
                    "grant/revoke/create_account tasks into litmos_provision runs.",
    )
    def c1_task_sensor(context: dg.SensorEvaluationContext, c1: C1Resource):
        problem = c1.problem()
        if problem:
            return _report_once(context, problem)
        if context.cursor:
            context.update_cursor(None)  # fixed: a relapse is reported again
        if not c1.configured:
            return dg.SkipReason("C1_CLIENT_ID / C1_CLIENT_SECRET are not set")
        with c1.client(loop.tokens) as client:
            requests = loop.tick(client, context.instance, targets,
                                 window_s=max(0.0, interval_s - 1.0))
        if not requests:
            return dg.SkipReason("no task from C1")
        return requests

    return c1_task_sensor


def _report_once(context: dg.SensorEvaluationContext, problem: str) -> dg.SkipReason:
    """A settings problem: logged as an error the first time, a skip reason every tick.

    Every tick would otherwise fail with the same traceback; the cursor remembers what was
    reported, so a new problem (or the same one after a fix and a relapse) is logged again.
    """
    if context.cursor != problem:
        context.log.error(f"C1 tasks cannot be served: {problem}")
        context.update_cursor(problem)
    return dg.SkipReason(f"C1 tasks cannot be served: {problem}")


def build_failure_sensor(jobs: list[Any], loop: TaskLoop | None = None) -> dg.SensorDefinition:
    """Cleans up after failed runs and finishes their C1 tasks (`loop`: its token cache)."""
    loop = loop or TaskLoop()

    @dg.run_failure_sensor(
        name="c1_task_failure_sensor", monitored_jobs=jobs,
        default_status=dg.DefaultSensorStatus.RUNNING,
        # Every daemon loop, not every 30 s: a dead run's task is reported while C1 waits.
        minimum_interval_seconds=FAILURE_SENSOR_INTERVAL_S,
        description="Cleans up after a failed or killed run (its staging file) and finishes "
                    "its C1 task with a retryable error saying why.",
    )
    def c1_task_failure_sensor(context: dg.RunFailureSensorContext, c1: C1Resource,
                               warehouse: WarehouseResource, publish: PublishResource) -> None:
        run_id = context.dagster_run.run_id
        # A killed run could not remove its staging file (personal data) itself.
        if warehouse.discard_staging(run_id):
            context.log.info(f"removed the staging file of failed run {run_id}")
        _discard_partial_c1z(publish, run_sync_identity(context.instance, run_id).sync_id)
        run = context.instance.get_run_by_id(run_id) or context.dagster_run
        left = unfinished_tasks(run.tags)
        if not left or not c1.configured:
            return
        reason = context.failure_event.message or "the run failed"
        with c1.client(loop.tokens) as client:
            finish_for_failed_run(client, context.instance, run, left, reason, context.log)

    return c1_task_failure_sensor


def _discard_partial_c1z(publish: PublishResource, sync_id: str) -> None:
    # A c1z is built in a temp folder beside it (see c1z.write_c1z): a killed writer
    # leaves that folder, with the whole snapshot in it, behind.
    out_dir = publish.settings().c1z_output_dir
    for folder in (out_dir, out_dir / PARTIAL_DIR):
        for partial in folder.glob(f".{sync_id}.c1z.*.tmp"):
            shutil.rmtree(partial, ignore_errors=True)


# A C1 sync task answered with the current snapshot (a refresh's, or a sync's) while it is
# young: the c1z alone, no Litmos request, so the key's budget goes to provisioning.
litmos_answer_sync = dg.define_asset_job(
    "litmos_answer_sync", selection=dg.AssetSelection.assets(c1_sync_file),
    description="Answers a C1 sync task with the current snapshot's c1z (no Litmos request) "
                "while it read Litmos at most LITMOS_SNAPSHOT_MAX_AGE_S ago.",
)


@dg.definitions
def defs() -> dg.Definitions:
    """The c1z asset, and the sensors serving C1's tasks with the sync and provision jobs."""
    schedule = cfg.load(cfg.ScheduleSettings)
    task_loop = TaskLoop()  # the two sensors share its token cache; Hello once per host
    return dg.Definitions(
        assets=[c1_sync_file],
        jobs=[litmos_answer_sync],
        sensors=[
            build_task_sensor(litmos_sync, provision_job, schedule.sensor_interval_s,
                              running=cfg.c1_configured(), loop=task_loop,
                              answer_job=litmos_answer_sync,
                              snapshot_max_age_s=schedule.snapshot_max_age_s,
                              targeted_job=targeted_sync_job),
            build_failure_sensor([litmos_sync, provision_job, litmos_refresh,
                                  litmos_answer_sync, targeted_sync_job], loop=task_loop),
        ],
    )
