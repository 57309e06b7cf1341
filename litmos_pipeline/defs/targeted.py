"""The targeted sync job: a C1 sync task naming resources, answered with a partial c1z.

C1 asks for one course's enrollees again after a change, say: this job reads just the
named resources afresh (a GET each and their lists, in the provisioning lane of the
key's budget: a handful of requests C1 waits on), builds their part of the model with the
sync's own SQL, writes a c1z of sync type `partial` (kept under C1Z_OUTPUT_DIR/partial/)
and uploads it. The published snapshot and latest.c1z are left as they are.
"""


import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg

from litmos_pipeline import c1z_process, files
from litmos_pipeline.c1.targeted import TargetedSync, targeted_sync
from litmos_pipeline.defs.resources import (
    C1Resource,
    LitmosResource,
    PublishResource,
    WarehouseResource,
    sync_identity,
)
from litmos_pipeline.defs.sync import enabled_options, team_roles
from litmos_pipeline.litmos.ids import UnsafeIdError
from litmos_pipeline.taskloop.finish import Outcome, finish_task, upload_and_finish
from litmos_pipeline.taskloop.requests import decode_task
from litmos_pipeline.warehouse import targeted

PARTIAL_DIR = "partial"  # beside the full syncs' files, so latest.c1z and pruning ignore it
TARGETED_OP = "targeted_sync"


class TargetedSyncConfig(dg.Config):
    task_b64: str  # the C1 sync task, protobuf-encoded, as the task sensor received it


@dg.op(name=TARGETED_OP,
       description="Reads the task's resources afresh from Litmos, writes them as a partial "
                   "c1z, uploads it to C1 and finishes the task.")
def targeted_sync_op(context: dg.OpExecutionContext, config: TargetedSyncConfig,
                     litmos: LitmosResource, warehouse: WarehouseResource,
                     publish: PublishResource, c1: C1Resource) -> dg.Output[dict[str, Any]]:
    task = decode_task(config.task_b64)
    try:
        # Courses outside LITMOS_COURSE_IDS are not synced: not in a partial sync either.
        wanted = targeted_sync(task).within("course", litmos.settings().course_ids)
    except UnsafeIdError as exc:
        # An id no Litmos id looks like: it would go into a URL path. Refused for good.
        _refuse(context, c1, task.id, str(exc))
        raise dg.Failure(description=str(exc), allow_retries=False) from None
    identity = sync_identity(context)
    stage_path = warehouse.staging_path(context.run_id)
    try:
        model = _build(context, litmos, warehouse, wanted, stage_path)
        out_dir = publish.settings().c1z_output_dir / PARTIAL_DIR
        files.private_dir(out_dir, pattern="*.c1z")
        dest = out_dir / f"{identity.sync_id}.c1z"
        summary = c1z_process.write_c1z_file(
            dest, stage_path, sync_id=identity.sync_id,
            started_at=identity.started_at.replace(tzinfo=UTC), ended_at=datetime.now(UTC),
            memory_limit=warehouse.settings().memory_limit, sync_type="partial")
    finally:
        warehouse.discard_staging(context.run_id)
    _prune(out_dir, publish.settings().keep_c1z_files)
    served_by = {"served_by": "targeted_sync", "sync_id": identity.sync_id,
                 "targets": len(wanted.targets), "litmos_requests": model.requests}
    metadata: dict[str, Any] = {
        "path": dg.MetadataValue.path(str(dest)), "sync_id": identity.sync_id,
        "targets": ", ".join(f"{t}:{i}" for t, i in wanted.targets),
        "skipped_targets": ", ".join(wanted.skipped) or "none",
        "missing_in_litmos": ", ".join(model.missing) or "none",
        "litmos_requests": model.requests, **summary.counts, "size_bytes": summary.size_bytes}
    context.log.info(f"partial sync of {len(wanted.targets)} resource(s): "
                     f"{model.requests} Litmos requests, {model.grants} grants")
    if c1.configured:
        metadata.update(upload_and_finish(c1.run_client(), context.instance, context.run_id,
                                          task.id, dest, c1.heartbeat, context.log,
                                          served_by=served_by))
    return dg.Output(served_by, metadata=metadata)


def _build(context: dg.OpExecutionContext, litmos: LitmosResource,
           warehouse: WarehouseResource, wanted: TargetedSync,
           stage_path: Path) -> targeted.TargetedModel:
    settings = litmos.settings()
    with litmos.client(context.log, provisioning=True,
                       budget_path=warehouse.key_budget_path()) as client:
        return targeted.build(stage_path, client, wanted, roles=team_roles(settings),
                              options=enabled_options(settings),
                              sync_team_roles=settings.sync_team_roles,
                              memory_limit=warehouse.settings().memory_limit)


def _refuse(context: dg.OpExecutionContext, c1: C1Resource, task_id: str, reason: str) -> None:
    if c1.configured:
        finish_task(c1.run_client(), context.instance, context.run_id, task_id,
                    Outcome.failure(reason, retryable=False), c1.heartbeat)


def _prune(out_dir: Path, keep: int) -> None:
    files.prune_newest(out_dir, "*.c1z", keep)
    for partial in out_dir.glob(".*.c1z.*.tmp"):  # a writer killed half way
        if partial.stat().st_mtime < datetime.now(UTC).timestamp() - 3600:
            shutil.rmtree(partial, ignore_errors=True)


@dg.job(name="litmos_targeted_sync", tags={"litmos/targeted": "task"},
        description="Answers a targeted C1 sync task (named resources) with a partial c1z "
                    "(launched by c1_task_sensor).")
def targeted_sync_job() -> None:
    targeted_sync_op()


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(jobs=[targeted_sync_job])
