"""The C1 sandbox's state, shared by its rooms (tokens, task queue, faults, BatonService):
settings, the one lock, the clock, and the records."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from http.server import ThreadingHTTPServer
from pathlib import Path

import grpc

from litmos_pipeline.c1.proto import baton_v1_pb2 as baton
from litmos_sandbox.c1.auth import ClientRecord, IssuedToken
from litmos_sandbox.c1.records import (
    SANDBOX_TENANT_HOST,
    TASK_CANCELLED,
    TASK_LEASED,
    TASK_PENDING,
    Event,
    FinishRecord,
    SandboxTask,
    UploadRecord,
)


class C1State:
    """All state sits behind one lock; leases lapse lazily (checked on every call)."""

    def __init__(
        self,
        *,
        tenant_host: str = SANDBOX_TENANT_HOST,
        token_lifetime_s: int = 3600,
        lease_timeout_s: float = 30.0,
        next_poll_s: float = 1.0,
        next_heartbeat_s: float = 5.0,
        requeue_retryable_errors: bool = False,
        data_dir: str | Path | None = None,
        clock: Callable[[], float] = time.time,
        http_port: int = 0,
        grpc_port: int = 0,
    ) -> None:
        self.tenant_host = tenant_host
        self.token_lifetime_s = token_lifetime_s
        self.lease_timeout_s = lease_timeout_s
        self.next_poll_s = next_poll_s
        self.next_heartbeat_s = next_heartbeat_s
        self.requeue_retryable_errors = requeue_retryable_errors
        self._clock = clock
        self._http_port = http_port
        self._grpc_port = grpc_port
        self._owns_data_dir = data_dir is None
        self._data_dir = Path(data_dir) if data_dir else None
        self._lock = threading.RLock()
        self._clients: dict[str, ClientRecord] = {}
        self._tokens: dict[str, IssuedToken] = {}
        self._seen_nonces: dict[str, float] = {}
        self._tasks: dict[str, SandboxTask] = {}
        self._seq = 0
        self._finishes: list[FinishRecord] = []
        self._uploads: list[UploadRecord] = []
        self._upload_seq = 0
        self._hellos: list[baton.BatonServiceHelloRequest] = []
        self._events: list[Event] = []
        self._reject_uploads: list[tuple[grpc.StatusCode, str]] = []
        self._cut_uploads = 0
        self._grpc_faults: dict[str, list[grpc.StatusCode]] = {}
        self._token_faults: list[str] = []
        self._http: ThreadingHTTPServer | None = None
        self._http_thread: threading.Thread | None = None
        self._grpc: grpc.Server | None = None
        self._grpc_bound_port = 0

    @property
    def data_dir(self) -> Path:
        if self._data_dir is None:
            raise RuntimeError("the C1 sandbox is not running")
        return self._data_dir

    def _event(self, kind: str, task_id: str = "", detail: str = "") -> None:
        self._events.append(Event(self._clock(), kind, task_id, detail))

    def _require_task(self, task_id: str) -> SandboxTask:
        task = self._tasks.get(task_id)
        if task is None:
            raise KeyError(f"no task {task_id!r} in the C1 sandbox")
        return task

    def _sweep_leases(self, now: float) -> None:
        for task in self._tasks.values():
            if task.state == TASK_LEASED and now >= task.lease_expires_at:
                task.state = TASK_CANCELLED if task.cancel_requested else TASK_PENDING
                self._event("lease_expired", task.task_id, task.host_id or "")
                task.host_id = None
