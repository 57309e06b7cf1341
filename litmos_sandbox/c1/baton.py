"""BatonService logic: leasing tasks, heartbeats, FinishTask and uploads (called by the
servicer, with auth already checked)."""

from __future__ import annotations

import copy
import tempfile
from collections.abc import Iterator
from pathlib import Path

import grpc
from google.protobuf import any_pb2, duration_pb2

from litmos_pipeline.c1.proto import baton_v1_pb2 as baton
from litmos_sandbox.c1.faults import FaultsMixin
from litmos_sandbox.c1.records import (
    TASK_FINISHED,
    TASK_LEASED,
    TASK_PENDING,
    FinishRecord,
    UploadRecord,
)
from litmos_sandbox.c1.uploads import C1zRejected, inspect_c1z, receive_upload


class BatonMixin(FaultsMixin):
    """What each BatonService call does to the queue."""

    def _get_task(self, host_id: str) -> baton.BatonServiceGetTaskResponse:
        now = self._clock()
        resp = baton.BatonServiceGetTaskResponse(
            next_poll=_duration(self.next_poll_s), next_heartbeat=_duration(self.next_heartbeat_s)
        )
        with self._lock:
            self._sweep_leases(now)
            pending = [t for t in self._tasks.values() if t.state == TASK_PENDING]
            if not pending:
                resp.task.CopyFrom(baton.Task(none=baton.Task.NoneTask()))
                return resp
            task = min(pending, key=lambda t: t.seq)
            task.state = TASK_LEASED
            task.host_id = host_id
            task.lease_expires_at = now + self.lease_timeout_s
            task.offers += 1
            task.message.status = baton.Task.STATUS_RUNNING
            self._event("task_offered", task.task_id, host_id)
            resp.task.CopyFrom(task.message)
        return resp

    def _heartbeat(
        self, host_id: str, task_id: str, context: grpc.ServicerContext
    ) -> baton.BatonServiceHeartbeatResponse:
        now = self._clock()
        resp = baton.BatonServiceHeartbeatResponse(next_heartbeat=_duration(self.next_heartbeat_s))
        with self._lock:
            self._sweep_leases(now)
            task = self._tasks.get(task_id)
            if task is None:
                context.abort(grpc.StatusCode.NOT_FOUND, f"no task {task_id}")
            if task.state == TASK_FINISHED:
                context.abort(grpc.StatusCode.FAILED_PRECONDITION, f"task {task_id} is finished")
            task.heartbeats += 1
            held_elsewhere = task.state == TASK_LEASED and task.host_id != host_id
            if task.cancel_requested or held_elsewhere:
                # Another host owns it now, or C1 wants it stopped: tell this worker to stop.
                resp.cancelled = True
                task.cancel_delivered = task.cancel_delivered or task.cancel_requested
                self._event("heartbeat_cancelled", task_id, host_id)
                return resp
            # A late heartbeat after the lease lapsed, but before anyone else took the task,
            # reclaims it: the worker is evidently still on it.
            task.state = TASK_LEASED
            task.host_id = host_id
            task.lease_expires_at = now + self.lease_timeout_s
            self._event("heartbeat", task_id, host_id)
        return resp

    def _finish(
        self, request: baton.BatonServiceFinishTaskRequest, context: grpc.ServicerContext
    ) -> None:
        now = self._clock()
        outcome = request.WhichOneof("final_state") or "invalid"
        response: any_pb2.Any | None = None
        non_retryable = False
        annotations: tuple[any_pb2.Any, ...] = ()
        if outcome == "success":
            annotations = tuple(copy.deepcopy(a) for a in request.success.annotations)
            if request.success.HasField("response"):
                response = copy.deepcopy(request.success.response)
        elif outcome == "error":
            non_retryable = request.error.non_retryable
            annotations = tuple(copy.deepcopy(a) for a in request.error.annotations)
            if request.error.HasField("response"):
                response = copy.deepcopy(request.error.response)
        with self._lock:
            task = self._tasks.get(request.task_id)
            reason = ""
            code: grpc.StatusCode | None = None
            if outcome == "invalid":
                reason, code = (
                    "final_state (success or error) is required",
                    (grpc.StatusCode.INVALID_ARGUMENT),
                )
            elif task is None:
                reason, code = f"no task {request.task_id}", grpc.StatusCode.NOT_FOUND
            elif task.state == TASK_FINISHED:
                reason, code = "task already finished", grpc.StatusCode.FAILED_PRECONDITION
            self._finishes.append(
                FinishRecord(
                    task_id=request.task_id,
                    host_id=request.host_id,
                    outcome=outcome,
                    non_retryable=non_retryable,
                    response=response,
                    status_code=request.status.code,
                    status_message=request.status.message,
                    at=now,
                    accepted=code is None,
                    reason=reason,
                    annotations=annotations,
                )
            )
            if code is not None:
                self._event("finish_rejected", request.task_id, reason)
                context.abort(code, reason)
            assert task is not None
            requeue = (
                outcome == "error"
                and not non_retryable
                and self.requeue_retryable_errors
                and not task.cancel_requested
            )
            task.state = TASK_PENDING if requeue else TASK_FINISHED
            task.host_id = None
            task.message.status = (
                baton.Task.STATUS_PENDING if requeue else baton.Task.STATUS_FINISHED
            )
            self._event("task_requeued" if requeue else "task_finished", task.task_id, outcome)

    def _upload(
        self,
        requests: Iterator[baton.BatonServiceUploadAssetRequest],
        context: grpc.ServicerContext,
    ) -> None:
        first = next(requests, None)
        if first is None or first.WhichOneof("msg") != "metadata":
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "the first message must be metadata")
        task_id, host_id = first.metadata.task_id, first.metadata.host_id
        with self._lock:
            task = self._tasks.get(task_id)
            if task is None:
                context.abort(grpc.StatusCode.NOT_FOUND, f"no task {task_id}")
            if task.state == TASK_FINISHED or task.kind != "sync_full":
                context.abort(
                    grpc.StatusCode.FAILED_PRECONDITION,
                    f"task {task_id} does not accept uploads ({task.kind}, {task.state})",
                )
        incoming = Path(
            tempfile.mkstemp(prefix=f"{task_id}-", suffix=".c1z", dir=self.data_dir / "incoming")[1]
        )
        cut = self._take_upload_cut()
        try:
            size, digest, claimed = receive_upload(requests, incoming, context, cut=cut)
            record = self._check_upload(task_id, host_id, incoming, size, digest, claimed, context)
        except BaseException:
            incoming.unlink(missing_ok=True)
            raise
        with self._lock:
            self._uploads.append(record)
            self._event("upload_accepted", task_id, f"{size} bytes sha256={digest.hex()}")

    def _check_upload(
        self,
        task_id: str,
        host_id: str,
        incoming: Path,
        size: int,
        digest: bytes,
        claimed: bytes,
        context: grpc.ServicerContext,
    ) -> UploadRecord:
        with self._lock:
            injected = self._reject_uploads.pop(0) if self._reject_uploads else None
        if injected is not None:
            self._reject(task_id, context, injected[0], injected[1])
        if claimed != digest:
            self._reject(
                task_id, context, grpc.StatusCode.DATA_LOSS, "sha256 checksum does not match"
            )
        try:
            tables, counts = inspect_c1z(incoming, self.data_dir / "scratch")
        except C1zRejected as exc:
            self._reject(task_id, context, grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        with self._lock:
            self._upload_seq += 1
            final = self.data_dir / "uploads" / f"{task_id}-{self._upload_seq}.c1z"
        incoming.replace(final)
        return UploadRecord(
            task_id=task_id,
            host_id=host_id,
            path=final,
            size=size,
            sha256=digest.hex(),
            tables=tables,
            row_counts=counts,
            at=self._clock(),
        )

    def _reject(
        self, task_id: str, context: grpc.ServicerContext, code: grpc.StatusCode, reason: str
    ) -> None:
        with self._lock:
            self._event("upload_rejected", task_id, f"{code.name}: {reason}")
        context.abort(code, reason)

    def _hello(self, request: baton.BatonServiceHelloRequest) -> None:
        with self._lock:
            self._hellos.append(copy.deepcopy(request))
            self._event("hello", request.task_id, request.host_id)


def _duration(seconds: float) -> duration_pb2.Duration:
    d = duration_pb2.Duration()
    d.FromNanoseconds(int(seconds * 1e9))
    return d
