"""The extract's progress line: written to the run's log, read back by the command line.

A sync's cost is its request floor: `floor(n/1000)+1` pages per list. It is known only as
the lists are read, so the extract reports a running floor that never overstates it:
the pages read so far, plus one for every list not yet ended (a list ends on its first
short page). It only grows, and equals the true floor once the last list has ended.
One format, written and parsed here, so the command line's progress bar and the line a
person reads in the Dagster UI cannot drift apart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class ExtractProgress:
    lists_done: int  # lists of the current pass whose every page has been fetched
    lists: int  # lists in the current pass (teams', courses' and the user list)
    rows: int  # rows staged by the current pass
    pages: int  # pages (one successful request each) read by the whole extract
    floor: int  # at least this many pages in all: `pages` plus one per open list
    sent: int  # requests sent, retries included

    def message(self) -> str:
        return (f"{self.lists_done}/{self.lists} lists read, {self.rows} rows so far; "
                f"requests: {self.pages} of at least {self.floor}, {self.sent} sent")

    @classmethod
    def parse(cls, message: str) -> ExtractProgress | None:
        """The figures of a progress line; None for any other log line."""
        match = _LINE.match(message)
        if match is None:
            return None
        return cls(*(int(group) for group in match.groups()))


_LINE = re.compile(r"(\d+)/(\d+) lists read, (\d+) rows so far; "
                   r"requests: (\d+) of at least (\d+), (\d+) sent")
