"""Keep a C1 task leased while a long run works on it."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from litmos_pipeline.c1.client import BatonClient, C1Error

log = logging.getLogger(__name__)


class TaskHeartbeat:
    """Heartbeats each of `task_ids` every `interval_s` on a daemon thread until stopped.

    C1 re-offers a task whose heartbeats stop; a heartbeat answered as cancelled sets
    `cancelled`, which the run checks before it publishes anything. A task is dropped
    from the beats once the run has finished it (`finished`).
    """

    def __init__(self, client: BatonClient, task_ids: Sequence[str], interval_s: float) -> None:
        self.client = client
        self.task_ids = list(task_ids)
        self.interval_s = max(0.5, interval_s)
        self.cancelled = threading.Event()
        self.beats = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        name = f"heartbeat-{self.task_ids[0] if self.task_ids else 'none'}"
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> TaskHeartbeat:
        self._beat()
        self._thread.start()
        return self

    def finished(self, task_id: str) -> None:
        with self._lock:
            if task_id in self.task_ids:
                self.task_ids.remove(task_id)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._beat()

    def _beat(self) -> None:
        with self._lock:
            task_ids = list(self.task_ids)
        for task_id in task_ids:
            if self._stop.is_set():
                return
            try:
                if self.client.heartbeat(task_id):
                    self.cancelled.set()
                self.beats += 1
            except C1Error as exc:
                # A missed beat is not fatal: the next may pass before the lease runs out.
                log.warning("heartbeat for task %s failed: %s", task_id, exc)
