"""One tick of C1's task loop, and the state that outlives a tick.

Dagster builds resources afresh for every sensor tick, so nothing a tick learns can stay
on them. What must outlive a tick (C1 has had our Hello; the bearer token, good for
minutes) is held by a `TaskLoop`, which the sensor definitions own: one object per loaded
code location, shared by the sensors it is given to, gone with them.
"""

from __future__ import annotations

import threading
import time

import dagster as dg

from litmos_pipeline.c1.client import BatonClient, task_kind
from litmos_pipeline.c1.credentials import TokenSource
from litmos_pipeline.c1.proto import baton_v1_pb2 as baton
from litmos_pipeline.taskloop import actions
from litmos_pipeline.taskloop.requests import (
    PROVISION_KINDS,
    SERVED_KINDS,
    Limits,
    RunTargets,
    fresh_snapshot,
    provision_requests,
    sync_request,
)
from litmos_pipeline.taskloop.tags import served_before


class TokenCache:
    """One TokenSource per client id and token URL, so that ticks reuse its token.

    A token per tick would be a token request every few seconds; the source refreshes its
    token before it expires. Locked: the task and failure sensors may tick at once.
    """

    def __init__(self) -> None:
        self._sources: dict[tuple[str, str], TokenSource] = {}
        self._lock = threading.Lock()

    def source(self, client_id: str, secret: str, token_url: str) -> TokenSource:
        key = (client_id, token_url)
        with self._lock:
            if key not in self._sources:
                self._sources[key] = TokenSource(client_id, secret, token_url=token_url)
            return self._sources[key]

    def close(self) -> None:
        """Close the sources' HTTP clients; a later `source` starts afresh."""
        with self._lock:
            sources, self._sources = list(self._sources.values()), {}
        for source in sources:
            source.close()


class TaskLoop:
    """C1's task loop for the sensors: Hello once per host, then GetTask -> RunRequests."""

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self.tokens = TokenCache()
        self._hellos: set[str] = set()
        self._lock = threading.Lock()

    def tick(self, client: BatonClient, instance: dg.DagsterInstance, targets: RunTargets,
             window_s: float) -> list[dg.RunRequest]:
        """Hello if not yet said, then the runs to ask for (see `poll`)."""
        self.hello_once(client)
        return self.poll(client, instance, targets, window_s)

    def hello_once(self, client: BatonClient) -> bool:
        """Hello, unless this loop said it for the client's host; True when it was sent."""
        # Once per loop and host: C1 learns our capabilities when the daemon starts.
        with self._lock:
            if client.host_id in self._hellos:
                return False
            client.hello()
            self._hellos.add(client.host_id)
            return True

    def poll(self, client: BatonClient, instance: dg.DagsterInstance, targets: RunTargets,
             window_s: float) -> list[dg.RunRequest]:
        """GetTask until C1 hands out tasks or the window closes.

        Dagster's sensor loop comes round every 5 s at best; polling through most of the
        tick (at C1's advised next_poll) picks a task up as soon as C1 offers it, instead of
        up to a whole loop later. Returns as soon as a batch of tasks is drained.
        """
        limits = self.limits
        deadline = time.monotonic() + window_s
        syncs: list[dg.RunRequest] = []
        approvals: list[tuple[baton.Task, int]] = []
        heartbeat_s = 30.0
        offers = 0
        # Tasks whose runs are queued come back when their leases lapse, ahead of newer
        # ones (C1 offers the oldest first): they are skipped, and do not count against
        # what a tick may take, or a sync asked for behind hundreds of approvals would
        # never be offered (measured: 28 of 950 queued grants served in 190 s, the sync
        # never). Once a tick has all the approvals it may take, it still looks further
        # down C1's queue for a sync: the tasks passed over lapse, and C1 offers them
        # again later.
        while offers < limits.offers_per_tick:
            task, next_poll_s, heartbeat_s = client.get_task()
            if task is None:
                if syncs or approvals or time.monotonic() + max(next_poll_s, 0.2) > deadline:
                    break
                time.sleep(min(max(next_poll_s, 0.2), 1.0))
                continue
            offers += 1
            kind = task_kind(task)
            full = len(approvals) >= limits.approvals_per_tick
            if kind in PROVISION_KINDS and full:
                continue
            attempt = self._attempt(task, client, instance) if kind in SERVED_KINDS else None
            if kind == "sync_full" and attempt is not None:
                now = time.time()
                syncs.append(sync_request(task, attempt, targets, heartbeat_s,
                                          fresh_snapshot(instance, targets, now), now))
            elif kind in PROVISION_KINDS and attempt is not None:
                approvals.append((task, attempt))
            elif kind in actions.TICK_KINDS:
                actions.answer(client, instance, task, kind)
            elif kind not in SERVED_KINDS:
                _answer_other(client, task, kind)
        return syncs + provision_requests(approvals, targets, heartbeat_s, limits)

    def _attempt(self, task: baton.Task, client: BatonClient,
                 instance: dg.DagsterInstance) -> int | None:
        """Runs that served the task before; None when it is not to be served now."""
        attempt = served_before(instance, task.id)
        if attempt is None:
            return None  # a run for it is queued or under way: C1 re-offered a waiting task
        if attempt >= self.limits.runs_per_task:
            # Failing for good (a task C1 keeps offering must not launch runs for ever):
            # give it back to C1 as a retryable error, which it may offer again later.
            client.finish_task_error(task.id, f"litmos-pipeline ran this task {attempt} "
                                     "times and every run failed; see the Dagster runs "
                                     f"tagged c1/task.{task.id}", non_retryable=False)
            return None
        return attempt


def _answer_other(client: BatonClient, task: baton.Task, kind: str) -> None:
    if kind == "hello":
        client.finish_task_success(task.id, None)
        return
    client.finish_task_error(task.id, f"litmos-pipeline does not handle {kind} tasks",
                             non_retryable=True)
