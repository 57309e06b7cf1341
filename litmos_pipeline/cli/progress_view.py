"""How a followed run is shown: a rich progress bar on a terminal, plain lines otherwise."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from litmos_pipeline.cli.follow import EXTRACT, RunFollower
from litmos_pipeline.warehouse.progress import ExtractProgress


class ProgressView:
    """A bar of Litmos requests read against the floor, with the figures beside it.

    Not on a terminal (a script, a log file), each change is one line instead.
    """

    def __init__(self, out: Console, job: str) -> None:
        self.out = out
        self.job = job
        self._bar: Progress | None = None
        self._task: TaskID | None = None
        self._shown_phase = "launching"
        self._shown_progress: ExtractProgress | None = None

    def __enter__(self) -> ProgressView:
        if self.out.is_terminal:
            self._bar = Progress(TextColumn("{task.description:<10}"), BarColumn(bar_width=16),
                                 TextColumn("{task.fields[figures]}"), TimeElapsedColumn(),
                                 console=self.out)
            self._bar.start()
            self._task = self._bar.add_task("launching", total=None, figures="")
        else:
            self.out.print(f"{self.job}: launching")
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if self._bar is not None:
            self._bar.stop()

    def started(self, run_id: str) -> None:
        self.note(f"run {run_id} started (it shows in the Dagster UI)")

    def note(self, text: str) -> None:
        self.out.print(f"{self.job}: {escape(text)}")

    def show(self, follower: RunFollower) -> None:
        if not follower.changed:
            return
        follower.changed = False
        progress = follower.progress
        if self._bar is None or self._task is None:
            # Events come in batches: the extract's last figures may arrive with the next
            # step's start, and are shown all the same.
            if progress is not None and progress != self._shown_progress:
                self._shown_progress = progress
                self.out.print(f"{self.job}: {EXTRACT}: {escape(follower.figures())}")
            if follower.phase != self._shown_phase:
                self._shown_phase = follower.phase
                if follower.phase != EXTRACT or progress is None:
                    self.out.print(f"{self.job}: {escape(follower.phase)}")
            return
        extra = {}
        if progress is not None:
            extra = {"completed": progress.pages, "total": progress.floor}
        self._bar.update(self._task, description=follower.phase, figures=follower.figures(),
                         **extra)
