"""Faults the sandbox can inject, as a real tenant (or what sits in front of it) fails."""

from __future__ import annotations

import grpc

from litmos_sandbox.c1.state import C1State

# Faults the sandbox can inject, as a real tenant (or what sits in front of it) fails.
GRPC_FAULT_METHODS = ("Hello", "GetTask", "Heartbeat", "FinishTask", "UploadAsset")
TOKEN_FAULT_KINDS = ("500", "down")  # down: the connection is closed unanswered


class FaultsMixin(C1State):
    """Switches for the next calls, uploads and token requests, taken once each."""

    def reject_next_uploads(
        self, count: int = 1, *, code: grpc.StatusCode = grpc.StatusCode.DATA_LOSS
    ) -> None:
        """Make the next `count` uploads fail (as a checksum rejection by default)."""
        with self._lock:
            self._reject_uploads.extend([(code, "upload rejected by the sandbox switch")] * count)

    def fail_next_calls(
        self, method: str, count: int = 1, *, code: grpc.StatusCode = grpc.StatusCode.UNAVAILABLE
    ) -> None:
        """Answer the next `count` calls of a BatonService method with `code` (before any
        other check, as a load balancer with no healthy backend answers UNAVAILABLE)."""
        if method not in GRPC_FAULT_METHODS:
            raise ValueError(f"method must be one of {GRPC_FAULT_METHODS}, got {method!r}")
        with self._lock:
            self._grpc_faults.setdefault(method, []).extend([code] * count)

    def fail_next_token_requests(self, count: int = 1, kind: str = "500") -> None:
        """The next `count` token requests get HTTP 500, or (`down`) a closed connection."""
        if kind not in TOKEN_FAULT_KINDS:
            raise ValueError(f"kind must be one of {TOKEN_FAULT_KINDS}, got {kind!r}")
        with self._lock:
            self._token_faults.extend([kind] * count)

    def cut_next_uploads(self, count: int = 1) -> None:
        """Reset the next `count` upload streams half way: after their first data chunk,
        before eof (nothing is stored)."""
        with self._lock:
            self._cut_uploads += count

    def _take_grpc_fault(self, method: str) -> grpc.StatusCode | None:
        with self._lock:
            queue = self._grpc_faults.get(method)
            if not queue:
                return None
            self._event("fault_injected", detail=f"{method} {queue[0].name}")
            return queue.pop(0)

    def _take_token_fault(self) -> str | None:
        with self._lock:
            if not self._token_faults:
                return None
            kind = self._token_faults.pop(0)
            self._event("fault_injected", detail=f"token {kind}")
            return kind

    def _take_upload_cut(self) -> bool:
        with self._lock:
            if self._cut_uploads <= 0:
                return False
            self._cut_uploads -= 1
            self._event("fault_injected", detail="UploadAsset stream reset")
            return True
