"""C1 tasks -> Dagster RunRequests: which job, which run key, one run or a batch."""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import dagster as dg

from litmos_pipeline.c1.proto import baton_v1_pb2 as baton
from litmos_pipeline.c1.targeted import is_targeted
from litmos_pipeline.taskloop.tags import ATTEMPT_TAG, HEARTBEAT_TAG, batch_tags, task_tags

# An action invoke changes Litmos (a user disabled or enabled): it runs as provisioning does.
PROVISION_KINDS = frozenset({"grant", "revoke", "create_account", "action_invoke"})
SERVED_KINDS = PROVISION_KINDS | {"sync_full"}
MAX_RUNS_PER_TICK = 20  # new runs a tick asks for (each launch costs the daemon ~0.4 s)
# A deep queue is served in batches: up to this many tasks a run, one after another (each
# run costs ~3 s of CPU to start; the key's budget, not the run count, paces the work).
MAX_TASKS_PER_RUN = 25
# GetTask answers a tick takes (already served or passed over ones included): a sync
# behind up to this many waiting approvals is reached in one tick (~1.5 s of GetTask on
# loopback), and a tick takes at most MAX_RUNS_PER_TICK * MAX_TASKS_PER_RUN approvals.
MAX_OFFERS_PER_TICK = 500
MAX_RUNS_PER_TASK = 3


@dataclass(frozen=True)
class Limits:
    """How much one tick takes on; the defaults above, smaller ones in tests."""

    runs_per_tick: int = MAX_RUNS_PER_TICK
    tasks_per_run: int = MAX_TASKS_PER_RUN
    offers_per_tick: int = MAX_OFFERS_PER_TICK
    runs_per_task: int = MAX_RUNS_PER_TASK

    @property
    def approvals_per_tick(self) -> int:
        return self.runs_per_tick * self.tasks_per_run


@dataclass(frozen=True)
class RunTargets:
    """The jobs that serve tasks, named by `defs/` so that this room needs no job objects.

    `answer_job` publishes the current snapshot as it is (no Litmos request): a sync task
    is served by it while the snapshot read Litmos at most `snapshot_max_age_s` ago.
    """

    sync_job: str
    provision_job: str
    provision_op: str  # the provisioning job's op, which takes the tasks as run config
    sync_tags: Mapping[str, str] = field(default_factory=dict)  # e.g. the run queue priority
    answer_job: str | None = None
    snapshot_max_age_s: float = 0.0
    targeted_job: str | None = None  # a sync task naming resources: a partial sync of them
    targeted_op: str = ""


# On a run answering a sync task with the current snapshot: which one, of which kind, and
# how old when the task came (c1_sync_file says so in FinishTask).
ANSWER_TAG = "litmos/answer_snapshot"
ANSWER_KIND_TAG = "litmos/answer_snapshot_kind"
ANSWER_AGE_TAG = "litmos/answer_snapshot_age_s"
TARGETED_TAG = "litmos/targeted_sync"
SNAPSHOT_ASSET = dg.AssetKey("c1_grants")


@dataclass(frozen=True)
class Snapshot:
    """The published snapshot, as c1_model's materialization of c1_grants describes it."""

    sync_id: str
    kind: str  # 'sync' | 'refresh'
    read_at: float  # when it began reading Litmos (epoch seconds)


def published_snapshot(instance: dg.DagsterInstance) -> Snapshot | None:
    """The newest snapshot c1_model published (other steps' materializations of c1_grants,
    e.g. provisioning's, carry no snapshot_read_at and are passed over)."""
    records = instance.fetch_materializations(SNAPSHOT_ASSET, limit=20).records
    for record in records:
        materialization = record.asset_materialization
        meta = materialization.metadata if materialization else {}
        if "snapshot_read_at" in meta and "sync_id" in meta:
            return Snapshot(str(meta["sync_id"].value),
                            str(meta["snapshot_kind"].value) if "snapshot_kind" in meta
                            else "sync", float(meta["snapshot_read_at"].value))
    return None


def fresh_snapshot(instance: dg.DagsterInstance, targets: RunTargets,
                   now: float) -> Snapshot | None:
    """The published snapshot if a sync task may be answered with it now, else None."""
    if targets.answer_job is None or targets.snapshot_max_age_s <= 0:
        return None
    snapshot = published_snapshot(instance)
    if snapshot is None or now - snapshot.read_at > targets.snapshot_max_age_s:
        return None
    return snapshot


def run_key(task: baton.Task, attempt: int) -> str:
    # The first run's key is the task id; a task C1 offers again after its runs ended
    # (failed, killed, or finished without C1 hearing of it) gets a new run.
    return task.id if attempt == 0 else f"{task.id}#{attempt}"


def sync_request(task: baton.Task, attempt: int, targets: RunTargets, heartbeat_s: float,
                 snapshot: Snapshot | None = None, now: float = 0.0) -> dg.RunRequest:
    """A full sync for the task, or (`snapshot`) the answer job publishing that snapshot.

    The answer run carries no sync tags: it reads no Litmos and need not wait for a sync.
    """
    tags = {**task_tags(task), HEARTBEAT_TAG: f"{heartbeat_s:g}", ATTEMPT_TAG: str(attempt)}
    if is_targeted(task) and targets.targeted_job is not None:
        # A few requests for the named resources, not a sync: no sync tags, no queue
        # behind a running sync.
        return dg.RunRequest(run_key=run_key(task, attempt), job_name=targets.targeted_job,
                             tags={**tags, TARGETED_TAG: "true"}, run_config={"ops": {
                                 targets.targeted_op: {"config": {
                                     "task_b64": encode_task(task)}}}})
    if snapshot is not None and targets.answer_job is not None:
        tags.update({ANSWER_TAG: snapshot.sync_id, ANSWER_KIND_TAG: snapshot.kind,
                     ANSWER_AGE_TAG: f"{max(0.0, now - snapshot.read_at):.0f}"})
        return dg.RunRequest(run_key=run_key(task, attempt), job_name=targets.answer_job,
                             tags=tags)
    return dg.RunRequest(run_key=run_key(task, attempt), job_name=targets.sync_job,
                         tags={**tags, **targets.sync_tags})


def provision_requests(approvals: list[tuple[baton.Task, int]], targets: RunTargets,
                       heartbeat_s: float, limits: Limits) -> list[dg.RunRequest]:
    """One run per approval while they are few; batches when C1's queue is deep."""
    if not approvals:
        return []
    runs = min(limits.runs_per_tick, len(approvals))
    size = min(limits.tasks_per_run, math.ceil(len(approvals) / runs))
    requests = []
    for start in range(0, len(approvals), size):
        batch = approvals[start:start + size]
        first, attempt = batch[0]
        if len(batch) == 1:
            tags = {**task_tags(first), ATTEMPT_TAG: str(attempt)}
            key = run_key(first, attempt)
        else:
            tags = batch_tags([task for task, _ in batch])
            key = f"{run_key(first, attempt)}+{len(batch) - 1}"
        config = {"tasks": [served_task(t, a) for t, a in batch]}
        requests.append(dg.RunRequest(
            run_key=key, job_name=targets.provision_job,
            tags={**tags, HEARTBEAT_TAG: f"{heartbeat_s:g}"},
            run_config={"ops": {targets.provision_op: {"config": config}}}))
    return requests


def served_task(task: baton.Task, attempt: int) -> dict[str, Any]:
    """One task in the provisioning op's run config (its `ServedTask`)."""
    return {"task_b64": encode_task(task), "attempt": attempt}


def encode_task(task: baton.Task) -> str:
    return base64.b64encode(task.SerializeToString(deterministic=True)).decode()


def decode_task(task_b64: str) -> baton.Task:
    return baton.Task.FromString(base64.b64decode(task_b64))
