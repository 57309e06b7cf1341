"""The sandbox's traffic accounting: the per-key rate limit (answered with 503) and
the statistics the benchmarks and tests read from ``/_sandbox/stats``."""

from __future__ import annotations

import collections
import threading
import time
from typing import Any

from litmos_sandbox.litmos.faults import FAULT_KINDS


class RateLimiter:
    """At most ``per_minute`` admitted requests per key in any sliding window of
    ``window_seconds``. Rejected requests do not count against the window."""

    def __init__(self, per_minute: int | None, window_seconds: float = 60.0) -> None:
        self._lock = threading.Lock()
        self._hits: dict[str, collections.deque[float]] = {}
        self.configure(per_minute, window_seconds)

    def configure(self, per_minute: int | None, window_seconds: float | None = None) -> None:
        if per_minute is not None and per_minute < 1:
            raise ValueError(f"rate limit must be >= 1 request or None, got {per_minute}")
        with self._lock:
            self.per_minute = per_minute
            if window_seconds is not None:
                if window_seconds <= 0:
                    raise ValueError(f"rate window must be > 0 s, got {window_seconds}")
                self.window_seconds = window_seconds

    def reset(self) -> None:
        with self._lock:
            self._hits.clear()

    def admit(self, key: str, now: float) -> bool:
        with self._lock:
            if self.per_minute is None:
                return True
            hits = self._hits.setdefault(key, collections.deque())
            horizon = now - self.window_seconds
            while hits and hits[0] <= horizon:
                hits.popleft()
            if len(hits) >= self.per_minute:
                return False
            hits.append(now)
            return True


class Stats:
    def __init__(self, window_seconds: float = 60.0) -> None:
        self._lock = threading.Lock()
        self.window_seconds = window_seconds
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.total = 0
            self.by_kind: collections.Counter[str] = collections.Counter()
            self.by_status: collections.Counter[str] = collections.Counter()
            self.rate_limited = 0
            self.injected: collections.Counter[str] = collections.Counter()
            self.sendmessage: collections.Counter[str] = collections.Counter()
            self.writes: collections.deque[dict[str, Any]] = collections.deque(maxlen=1000)
            self.control_requests = 0
            self._window: collections.deque[float] = collections.deque()
            self.max_in_window = 0
            self.started = time.monotonic()

    def request(self, kind: str, now: float) -> None:
        with self._lock:
            self.total += 1
            self.by_kind[kind] += 1
            window = self._window
            window.append(now)
            horizon = now - self.window_seconds
            while window and window[0] <= horizon:
                window.popleft()
            if len(window) > self.max_in_window:
                self.max_in_window = len(window)

    def status(self, status: int | str) -> None:
        with self._lock:
            self.by_status[str(status)] += 1

    def fault(self, kind: str) -> None:
        with self._lock:
            self.injected[kind] += 1

    def limited(self) -> None:
        with self._lock:
            self.rate_limited += 1

    def write(self, method: str, kind: str, path: str, sendmessage: str | None) -> None:
        with self._lock:
            self.sendmessage["absent" if sendmessage is None else sendmessage.lower()] += 1
            self.writes.append(
                {"method": method, "kind": kind, "path": path, "sendmessage": sendmessage}
            )

    def control(self) -> None:
        with self._lock:
            self.control_requests += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "total_requests": self.total,
                "requests_by_kind": dict(sorted(self.by_kind.items())),
                "statuses": dict(sorted(self.by_status.items())),
                "rate_limited_503s": self.rate_limited,
                "injected_faults": {k: self.injected.get(k, 0) for k in FAULT_KINDS},
                "max_requests_in_window": self.max_in_window,
                "window_seconds": self.window_seconds,
                "sendmessage": dict(sorted(self.sendmessage.items())),
                "writes": list(self.writes),
                "control_requests": self.control_requests,
                "seconds_since_reset": round(time.monotonic() - self.started, 3),
            }
