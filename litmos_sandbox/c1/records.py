"""What the C1 sandbox records: tasks and their states, FinishTask calls, uploads, events."""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from pathlib import Path

from google.protobuf import any_pb2

from litmos_pipeline.c1.proto import baton_v1_pb2 as baton

SANDBOX_TENANT_HOST = "sandbox.conductor.one"
CONTROL_PREFIX = "/_sandbox"

TASK_PENDING = "pending"
TASK_LEASED = "leased"
TASK_FINISHED = "finished"
TASK_CANCELLED = "cancelled"  # cancelled before anyone held it, or its lease lapsed after


@dataclass
class SandboxTask:
    """A task in the sandbox queue (snapshots are handed out; the live one stays inside)."""

    task_id: str
    kind: str
    message: baton.Task
    seq: int
    created_at: float
    state: str = TASK_PENDING
    host_id: str | None = None
    lease_expires_at: float = 0.0
    offers: int = 0
    heartbeats: int = 0
    cancel_requested: bool = False
    cancel_delivered: bool = False


@dataclass(frozen=True)
class FinishRecord:
    """One FinishTask call, accepted or not."""

    task_id: str
    host_id: str
    outcome: str  # 'success' | 'error' | 'invalid'
    non_retryable: bool
    response: any_pb2.Any | None
    status_code: int
    status_message: str
    at: float
    accepted: bool
    reason: str = ""
    annotations: tuple[any_pb2.Any, ...] = ()


@dataclass(frozen=True)
class UploadRecord:
    """An accepted upload: the c1z as received, stored under the sandbox's data dir."""

    task_id: str
    host_id: str
    path: Path
    size: int
    sha256: str
    tables: tuple[str, ...]
    row_counts: dict[str, int]
    at: float


@dataclass(frozen=True)
class Event:
    at: float
    kind: str
    task_id: str = ""
    detail: str = ""


def task_snapshot(task: SandboxTask) -> SandboxTask:
    return replace(task, message=copy.deepcopy(task.message))
