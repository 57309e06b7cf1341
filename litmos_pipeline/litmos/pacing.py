"""Client-side pacing so one API key's budget (100 requests a minute) is never tripped."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable


class Pacer:
    """At most `per_minute` request starts in any 60 s window, spread evenly.

    Even spacing (one start every 60/per_minute s) keeps a long sync under the limit in
    every sliding window; `burst` lets a short job such as a provisioning run make its
    first few calls at once, as long as the window still has room.
    """

    def __init__(
        self,
        per_minute: float | None,
        *,
        burst: int = 1,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.per_minute = per_minute
        self.burst = max(1, burst)
        self._clock = clock
        self._sleep = sleep
        self._starts: deque[float] = deque()
        self._lock = threading.Lock()

    @property
    def interval_s(self) -> float:
        return 0.0 if not self.per_minute else 60.0 / self.per_minute

    def wait(self) -> float:
        """Block until a request may start, record its start; the seconds slept."""
        if not self.per_minute:
            return 0.0
        with self._lock:
            now = self._clock()
            delay = self._delay(now)
            if delay > 0:
                self._sleep(delay)
                now = self._clock()
            self._starts.append(now)
            return delay

    def _delay(self, now: float) -> float:
        window = 60.0
        while self._starts and now - self._starts[0] >= window:
            self._starts.popleft()
        limit = int(self.per_minute or 0)
        delays = [0.0]
        if limit and len(self._starts) >= limit:
            delays.append(self._starts[-limit] + window - now)
        if len(self._starts) >= self.burst:
            delays.append(self._starts[-self.burst] + self.burst * self.interval_s - now)
        return max(delays)
