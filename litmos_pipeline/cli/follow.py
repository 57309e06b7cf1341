"""Following a Dagster run from its event log: the phase, the extract's progress, the outcome.

`RunFollower` reads each new event record and keeps what the command line shows: the step
under way, the extract's figures (`warehouse.progress`: requests read against the
running floor, rows), the pace over the last minute and the time left at it, what the
assets recorded, and why a step or the run failed (a dagster.Failure's description and
metadata, or the user code's own error beneath Dagster's wrappers).
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from litmos_pipeline.warehouse.progress import ExtractProgress

PACE_WINDOW_S = 60.0  # "the current pacing": requests read over the last minute
EXTRACT = "extract"
STEP_PHASES = {  # short: they head the progress bar
    "litmos_extract": EXTRACT,
    "c1_model": "model+swap",
    "access_changes": "changes",
    "c1_sync_file": "c1z",
}


@dataclass
class RunFollower:
    phase: str = "launching"
    progress: ExtractProgress | None = None
    samples: deque[tuple[float, int]] = field(default_factory=deque)  # (time, pages)
    metadata: dict[str, dict[str, Any]] = field(default_factory=dict)  # asset -> values
    failures: list[str] = field(default_factory=list)
    failure_metadata: dict[str, Any] = field(default_factory=dict)
    status: str | None = None  # "success", "failure", "canceled" once the run has ended
    changed: bool = False  # something to show since the last look
    run_id: str | None = None  # the run once found
    cursor: str | None = None  # of its event log, read up to here

    def take(self, entry: Any) -> None:
        """One event log entry (dagster's EventLogEntry)."""
        import dagster as dg

        event = entry.dagster_event
        if event is None:
            figures = ExtractProgress.parse(entry.user_message or "")
            if figures is not None:
                self._progress(entry.timestamp, figures)
            return
        kind = event.event_type
        if kind == dg.DagsterEventType.STEP_START:
            self._phase(STEP_PHASES.get(event.step_key or "", f"step {event.step_key}"))
        elif kind == dg.DagsterEventType.ASSET_MATERIALIZATION:
            materialization = entry.asset_materialization
            if materialization is not None:
                self.metadata[materialization.asset_key.to_user_string()] = {
                    key: getattr(value, "value", value)
                    for key, value in materialization.metadata.items() if key != "preview"}
        elif kind == dg.DagsterEventType.STEP_FAILURE:
            self._step_failure(event)
        elif kind == dg.DagsterEventType.RUN_FAILURE:
            self.status = "failure"
            if not self.failures:
                self.failures.append(entry.message or "the run failed")
        elif kind == dg.DagsterEventType.RUN_CANCELED:
            self.status = "canceled"
        elif kind == dg.DagsterEventType.RUN_SUCCESS:
            self.status = "success"
            self._phase("done")

    def _phase(self, phase: str) -> None:
        self.phase, self.changed = phase, True

    def _progress(self, at: float, figures: ExtractProgress) -> None:
        self.progress, self.changed = figures, True
        self.samples.append((at, figures.pages))
        while len(self.samples) > 2 and at - self.samples[1][0] >= PACE_WINDOW_S:
            self.samples.popleft()

    def _step_failure(self, event: Any) -> None:
        data = event.step_failure_data
        user = getattr(data, "user_failure_data", None)
        if user is not None and user.description:
            self.failures.append(f"{event.step_key}: {user.description}")
            self.failure_metadata.update({k: getattr(v, "value", v)
                                          for k, v in (user.metadata or {}).items()})
            return
        self.failures.append(f"{event.step_key}: {user_error(data.error)}")

    def per_minute(self) -> float | None:
        """Requests read a minute, over the last minute of progress lines."""
        if len(self.samples) < 2:
            return None
        (t0, p0), (t1, p1) = self.samples[0], self.samples[-1]
        return (p1 - p0) * 60.0 / (t1 - t0) if t1 > t0 else None

    def seconds_left(self) -> float | None:
        """At least this long at the current pace: the floor's requests not read yet."""
        rate = self.per_minute()
        if self.progress is None or not rate:
            return None
        return max(0, self.progress.floor - self.progress.pages) * 60.0 / rate

    def figures(self) -> str:
        """One short line: requests read / floor, rows, pace, time left."""
        p = self.progress
        if p is None:
            return ""
        rate, left = self.per_minute(), self.seconds_left()
        retries = f", {p.sent} sent" if p.sent > p.floor else ""
        parts = [f"{p.pages:,}/{p.floor:,} req (floor{retries})", f"{p.rows:,} rows",
                 f"{rate:,.0f}/min" if rate else "—/min",
                 f"{duration(left)} left" if left is not None else "— left"]
        return " · ".join(parts)

    @property
    def held(self) -> bool:
        """The mass-revocation guard held the sync (see warehouse.guard)."""
        return bool(self.failure_metadata.get("guard_held"))


def user_error(error: Any) -> str:
    """The innermost cause of a serialized error, as `ClassName: first line`."""
    while getattr(error, "cause", None) is not None:
        error = error.cause
    message = (error.message or "").strip().splitlines()
    if not message:
        return error.cls_name or "error"
    # "package.module.LitmosAuthError: ..." -> "LitmosAuthError: ..."
    return re.sub(r"^(?:\w+\.)+(\w+): ", r"\1: ", message[0])


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"
