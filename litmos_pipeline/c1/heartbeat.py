"""Keep a C1 task leased while a long run works on it."""

from __future__ import annotations

import logging
import threading

from litmos_pipeline.c1.client import BatonClient, C1Error

log = logging.getLogger(__name__)


class TaskHeartbeat:
    """Heartbeats `task_id` every `interval_s` on a daemon thread until stopped.

    C1 re-offers a task whose heartbeats stop; a heartbeat answered as cancelled sets
    `cancelled`, which the run checks before it publishes anything.
    """

    def __init__(self, client: BatonClient, task_id: str, interval_s: float) -> None:
        self.client = client
        self.task_id = task_id
        self.interval_s = max(0.5, interval_s)
        self.cancelled = threading.Event()
        self.beats = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{task_id}",
                                        daemon=True)

    def start(self) -> TaskHeartbeat:
        self._beat()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._beat()

    def _beat(self) -> None:
        try:
            if self.client.heartbeat(self.task_id):
                self.cancelled.set()
            self.beats += 1
        except C1Error as exc:
            # A missed beat is not fatal: the next one may pass before the lease runs out.
            log.warning("heartbeat for task %s failed: %s", self.task_id, exc)
