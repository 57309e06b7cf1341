"""The gRPC servicer: faults first, then auth, then the sandbox's BatonService logic."""

from __future__ import annotations

from collections.abc import Iterator

import grpc

from litmos_pipeline.c1.proto import baton_v1_pb2 as baton
from litmos_pipeline.c1.proto import baton_v1_pb2_grpc as baton_grpc
from litmos_sandbox.c1.auth import AuthError
from litmos_sandbox.c1.core import SandboxCore


class BatonServicer(baton_grpc.BatonServiceServicer):
    def __init__(self, sandbox: SandboxCore) -> None:
        self._sandbox = sandbox

    def _fault(self, method: str, context: grpc.ServicerContext) -> None:
        code = self._sandbox._take_grpc_fault(method)
        if code is not None:
            context.abort(code, f"{method}: injected by the sandbox ({code.name})")

    def _auth(self, context: grpc.ServicerContext) -> str:
        metadata = dict(context.invocation_metadata())
        try:
            return self._sandbox.authenticate(str(metadata.get("authorization", "")))
        except AuthError as exc:
            with self._sandbox._lock:
                self._sandbox._event("unauthenticated", detail=exc.reason)
            context.abort(grpc.StatusCode.UNAUTHENTICATED, exc.reason)
            raise  # unreachable: abort raises

    def Hello(
        self, request: baton.BatonServiceHelloRequest, context: grpc.ServicerContext
    ) -> baton.BatonServiceHelloResponse:
        self._fault("Hello", context)
        self._auth(context)
        if not request.host_id:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "host_id is required")
        self._sandbox._hello(request)
        return baton.BatonServiceHelloResponse()

    def GetTask(
        self, request: baton.BatonServiceGetTaskRequest, context: grpc.ServicerContext
    ) -> baton.BatonServiceGetTaskResponse:
        self._fault("GetTask", context)
        self._auth(context)
        if not request.host_id:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "host_id is required")
        return self._sandbox._get_task(request.host_id)

    def Heartbeat(
        self, request: baton.BatonServiceHeartbeatRequest, context: grpc.ServicerContext
    ) -> baton.BatonServiceHeartbeatResponse:
        self._fault("Heartbeat", context)
        self._auth(context)
        return self._sandbox._heartbeat(request.host_id, request.task_id, context)

    def FinishTask(
        self, request: baton.BatonServiceFinishTaskRequest, context: grpc.ServicerContext
    ) -> baton.BatonServiceFinishTaskResponse:
        self._fault("FinishTask", context)
        self._auth(context)
        self._sandbox._finish(request, context)
        return baton.BatonServiceFinishTaskResponse()

    def UploadAsset(
        self,
        request_iterator: Iterator[baton.BatonServiceUploadAssetRequest],
        context: grpc.ServicerContext,
    ) -> baton.BatonServiceUploadAssetResponse:
        self._fault("UploadAsset", context)
        self._auth(context)
        self._sandbox._upload(request_iterator, context)
        return baton.BatonServiceUploadAssetResponse()
