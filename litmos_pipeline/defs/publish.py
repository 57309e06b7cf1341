"""Publishing to C1: the c1z sync file, C1's task loop sensor, and failure reporting."""

import base64
import logging
import math
import os
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg

from litmos_pipeline import c1z_process, files
from litmos_pipeline import settings as cfg
from litmos_pipeline.c1.client import C1Error, task_kind
from litmos_pipeline.c1.proto import baton_v1_pb2 as baton
from litmos_pipeline.defs.provisioning import provision_job
from litmos_pipeline.defs.resources import (
    C1Resource,
    PublishResource,
    WarehouseResource,
    run_sync_identity,
    sync_identity,
)
from litmos_pipeline.defs.sync import SYNC_TAGS, litmos_sync
from litmos_pipeline.defs.tasks import (
    ATTEMPT_TAG,
    HEARTBEAT_TAG,
    TASK_ID_TAG,
    batch_tags,
    is_finished,
    mark_task_finished,
    recorded_work,
    run_task_ids,
    served_before,
    served_by_another_run,
    task_tags,
    work_done,
)
from litmos_pipeline.warehouse import snapshot, store

log = logging.getLogger(__name__)

PUBLISH = {"group_name": "c1_publish", "kinds": {"c1", "sqlite"}}
LATEST = "latest.c1z"
PROVISION_KINDS = {"grant", "revoke", "create_account"}
SERVED_KINDS = PROVISION_KINDS | {"sync_full"}
MAX_RUNS_PER_TICK = 20  # new runs a tick asks for (each launch costs the daemon ~0.4 s)
# A deep queue is served in batches: up to this many tasks a run, one after another (each
# run costs ~3 s of CPU to start; the key's budget, not the run count, paces the work).
MAX_TASKS_PER_RUN = 25
# GetTask answers a tick takes (already served or passed over ones included): a sync
# behind up to this many waiting approvals is reached in one tick (~1.5 s of GetTask on
# loopback), and a tick takes at most MAX_RUNS_PER_TICK * MAX_TASKS_PER_RUN approvals.
MAX_OFFERS_PER_TICK = 500
FAILURE_SENSOR_INTERVAL_S = 5
MAX_RUNS_PER_TASK = 3


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
    sync_id, started_at = _stage_published_snapshot(context, warehouse, stage_path)
    dest = out_dir / f"{sync_id}.c1z"
    # In a lean child process: the writer's buffers on top of this process's imports
    # would go past the memory a run may use.
    summary = c1z_process.write_c1z_file(dest, stage_path, sync_id=sync_id,
                                         started_at=started_at.replace(tzinfo=UTC),
                                         ended_at=datetime.now(UTC),
                                         memory_limit=warehouse.settings().memory_limit)
    _point_latest(dest)
    removed = _prune(out_dir, publish.settings().keep_c1z_files)
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
        metadata.update(_upload_and_finish(context, c1, task_id, dest))
    return dg.MaterializeResult(metadata=metadata)


def _stage_published_snapshot(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                              stage_path: Path) -> tuple[str, datetime]:
    """The snapshot to write: this run's, or (run alone) the current one copied out briefly."""
    identity = sync_identity(context)
    with warehouse.main() as main:
        row = main.execute("SELECT sync_id, started_at FROM sync_runs "
                           "ORDER BY finished_at DESC LIMIT 1").fetchone()
        if row is None:
            raise snapshot.SnapshotRefused("no sync has been published yet: run litmos_sync")
        if row[0] == identity.sync_id and stage_path.exists():
            return row[0], row[1]
        store.attach(main, stage_path, "stage")
        try:
            for table in snapshot.C1_TABLES:
                main.execute(f"CREATE OR REPLACE TABLE stage.{table} AS FROM {table}")
        finally:
            main.execute("DETACH stage")
    return row[0], row[1]


def _upload_and_finish(context: dg.AssetExecutionContext, c1: C1Resource, task_id: str,
                       path: Path) -> dict[str, Any]:
    heartbeat = c1.heartbeat
    if heartbeat and heartbeat.cancelled.is_set():
        raise RuntimeError(f"C1 cancelled task {task_id}; the c1z was not uploaded")
    client = c1.run_client()
    started = time.monotonic()
    digest = client.upload_asset(task_id, path)
    work_done(context.instance, context.run_id, task_id, None)
    client.finish_task_success(task_id, None)
    mark_task_finished(context.instance, context.run_id, task_id)
    context.log.info(f"uploaded {path.name} to C1 for task {task_id} and finished it")
    return {"c1_task_id": task_id, "upload_s": round(time.monotonic() - started, 2),
            "uploaded_sha256": digest}


def _point_latest(dest: Path) -> None:
    # A hard link renamed into place: readers of latest.c1z see the old file or the new one.
    tmp = dest.parent / f".{LATEST}.{os.getpid()}"
    tmp.unlink(missing_ok=True)
    os.link(dest, tmp)
    os.replace(tmp, dest.parent / LATEST)


def _prune(out_dir: Path, keep: int) -> int:
    files = sorted((p for p in out_dir.glob("*.c1z") if p.name != LATEST),
                   key=lambda p: p.stat().st_mtime, reverse=True)
    for old in files[keep:]:
        old.unlink(missing_ok=True)
    return len(files[keep:])


def build_task_sensor(sync_job: Any, provision_job: Any, interval_s: int,
                      running: bool) -> dg.SensorDefinition:
    # Dagster's sensor loop comes round every 5 s and skips a sensor whose last tick is a
    # hair younger than its minimum interval, so "5" would tick every 10 s. Declaring one
    # second less makes every loop tick; the tick itself polls C1 for the rest.
    @dg.sensor(
        name="c1_task_sensor", jobs=[sync_job, provision_job],
        minimum_interval_seconds=max(1, interval_s - 1),
        default_status=dg.DefaultSensorStatus.RUNNING if running
        else dg.DefaultSensorStatus.STOPPED,
        description="Polls C1 (GetTask) and turns sync_full tasks into litmos_sync runs and "
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
        with c1.client() as client:
            _hello_once(client)
            requests = _poll_tasks(client, context.instance, sync_job.name, provision_job.name,
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


def _poll_tasks(client: Any, instance: dg.DagsterInstance, sync_job: str, provision_job: str,
                window_s: float) -> list[dg.RunRequest]:
    """GetTask until C1 hands out tasks or the window closes.

    Dagster's sensor loop comes round every 5 s at best; polling through most of the tick
    (at C1's advised next_poll) picks a task up as soon as C1 offers it, instead of up to a
    whole loop later. Returns as soon as a batch of tasks is drained.
    """
    deadline = time.monotonic() + window_s
    syncs: list[dg.RunRequest] = []
    approvals: list[tuple[baton.Task, int]] = []
    heartbeat_s = 30.0
    offers = 0
    # Tasks whose runs are queued come back when their leases lapse, ahead of newer ones
    # (C1 offers the oldest first): they are skipped, and do not count against what a
    # tick may take, or a sync asked for behind hundreds of approvals would never be
    # offered (measured: 28 of 950 queued grants served in 190 s, the sync never).
    # Once a tick has all the approvals it may take, it still looks further down C1's
    # queue for a sync: the tasks passed over lapse, and C1 offers them again later.
    while offers < MAX_OFFERS_PER_TICK:
        task, next_poll_s, heartbeat_s = client.get_task()
        if task is None:
            if syncs or approvals or time.monotonic() + max(next_poll_s, 0.2) > deadline:
                break
            time.sleep(min(max(next_poll_s, 0.2), 1.0))
            continue
        offers += 1
        kind = task_kind(task)
        full = len(approvals) >= MAX_RUNS_PER_TICK * MAX_TASKS_PER_RUN
        if kind in PROVISION_KINDS and full:
            continue
        attempt = _attempt(task, client, instance) if kind in SERVED_KINDS else None
        if kind == "sync_full" and attempt is not None:
            syncs.append(_sync_request(task, attempt, sync_job, heartbeat_s))
        elif kind in PROVISION_KINDS and attempt is not None:
            approvals.append((task, attempt))
        elif kind not in SERVED_KINDS:
            _answer_other(client, task, kind)
    return syncs + _provision_requests(approvals, provision_job, heartbeat_s)


def _attempt(task: baton.Task, client: Any, instance: dg.DagsterInstance) -> int | None:
    """Runs that served the task before; None when it is not to be served now."""
    attempt = served_before(instance, task.id)
    if attempt is None:
        return None  # a run for it is queued or under way: C1 re-offered a waiting task
    if attempt >= MAX_RUNS_PER_TASK:
        # Failing for good (a task C1 keeps offering must not launch runs for ever):
        # give it back to C1 as a retryable error, which it may offer again later.
        client.finish_task_error(task.id, f"litmos-pipeline ran this task {attempt} "
                                 "times and every run failed; see the Dagster runs tagged "
                                 f"c1/task.{task.id}", non_retryable=False)
        return None
    return attempt


def _run_key(task: baton.Task, attempt: int) -> str:
    # The first run's key is the task id; a task C1 offers again after its runs ended
    # (failed, killed, or finished without C1 hearing of it) gets a new run.
    return task.id if attempt == 0 else f"{task.id}#{attempt}"


def _sync_request(task: baton.Task, attempt: int, sync_job: str,
                  heartbeat_s: float) -> dg.RunRequest:
    tags = {**task_tags(task), HEARTBEAT_TAG: f"{heartbeat_s:g}", ATTEMPT_TAG: str(attempt),
            **SYNC_TAGS}
    return dg.RunRequest(run_key=_run_key(task, attempt), job_name=sync_job, tags=tags)


def _provision_requests(approvals: list[tuple[baton.Task, int]], provision_job: str,
                        heartbeat_s: float) -> list[dg.RunRequest]:
    """One run per approval while they are few; batches when C1's queue is deep."""
    if not approvals:
        return []
    runs = min(MAX_RUNS_PER_TICK, len(approvals))
    size = min(MAX_TASKS_PER_RUN, math.ceil(len(approvals) / runs))
    requests = []
    for start in range(0, len(approvals), size):
        batch = approvals[start:start + size]
        first, attempt = batch[0]
        if len(batch) == 1:
            tags = {**task_tags(first), ATTEMPT_TAG: str(attempt)}
            run_key = _run_key(first, attempt)
        else:
            tags = batch_tags([task for task, _ in batch])
            run_key = f"{_run_key(first, attempt)}+{len(batch) - 1}"
        config = {"tasks": [{"task_b64": _encode_task(t), "attempt": a} for t, a in batch]}
        requests.append(dg.RunRequest(
            run_key=run_key, job_name=provision_job,
            tags={**tags, HEARTBEAT_TAG: f"{heartbeat_s:g}"},
            run_config={"ops": {"provision_task": {"config": config}}}))
    return requests


_HELLO_SENT: set[str] = set()


def _hello_once(client: Any) -> None:
    # Once per process and host: C1 learns our capabilities when the daemon starts.
    if client.host_id not in _HELLO_SENT:
        client.hello()
        _HELLO_SENT.add(client.host_id)


def _answer_other(client: Any, task: baton.Task, kind: str) -> None:
    if kind == "hello":
        client.finish_task_success(task.id, None)
        return
    client.finish_task_error(task.id, f"litmos-pipeline does not handle {kind} tasks",
                             non_retryable=True)


def _encode_task(task: baton.Task) -> str:
    return base64.b64encode(task.SerializeToString(deterministic=True)).decode()


def build_failure_sensor(jobs: list[Any]) -> dg.SensorDefinition:
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
        left = [t for t in run_task_ids(run.tags) if not is_finished(run.tags, t)]
        if not left or not c1.configured:
            return
        reason = context.failure_event.message or "the run failed"
        with c1.client() as client:
            for task_id in left:
                _finish_for_failed_run(context, client, run, task_id, reason)

    return c1_task_failure_sensor


def _discard_partial_c1z(publish: PublishResource, sync_id: str) -> None:
    # A c1z is built in a temp folder beside it (see c1z.write_c1z): a killed writer
    # leaves that folder, with the whole snapshot in it, behind.
    for partial in publish.settings().c1z_output_dir.glob(f".{sync_id}.c1z.*.tmp"):
        shutil.rmtree(partial, ignore_errors=True)


def _finish_for_failed_run(context: dg.RunFailureSensorContext, client: Any,
                           run: dg.DagsterRun, task_id: str, reason: str) -> None:
    run_id = run.run_id
    if served_by_another_run(context.instance, task_id, run_id):
        # C1 offered the task again (its lease lapsed) and a newer run has it now.
        context.log.info(f"task {task_id} is served by a newer run than {run_id}")
        return
    done, response = recorded_work(run.tags, task_id)
    try:
        if done:
            # The work is done; only C1 has not heard: report the success the run could
            # not (its FinishTask failed, or it died right before it).
            client.finish_task_success(task_id, response)
        else:
            client.finish_task_error(task_id, f"Dagster run {run_id} failed: "
                                     f"{reason}"[:2000], non_retryable=False)
        mark_task_finished(context.instance, run_id, task_id)
    except C1Error as exc:
        context.log.warning(f"could not finish C1 task {task_id}: {exc}; C1 offers it "
                            "again when its lease lapses, and a new run serves it")


@dg.definitions
def defs() -> dg.Definitions:
    """The c1z asset, and the sensors serving C1's tasks with the sync and provision jobs."""
    schedule = cfg.load(cfg.ScheduleSettings)
    return dg.Definitions(
        assets=[c1_sync_file],
        sensors=[
            build_task_sensor(litmos_sync, provision_job, schedule.sensor_interval_s,
                              running=cfg.c1_configured()),
            build_failure_sensor([litmos_sync, provision_job]),
        ],
    )
