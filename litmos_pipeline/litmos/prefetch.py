"""Fetch lists ahead on worker threads, so local work overlaps the API's round trips.

The API is the bottleneck of a sync. While the caller parses and loads one page, the
next requests are already under way: three workers, each reading whole lists (a
course's enrollees, a team's members) page by page, because a list's next page is known
only once its current page has come back. The pacer still spaces every request start, so
the rate limit holds; several in flight only stop a slow answer, or a worker busy
counting its page, from costing a pacing slot. Socket waits and DuckDB's work both
release the GIL, so the threads really do overlap.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

L = TypeVar("L")
T = TypeVar("T")

# Three, not two: at 20 ms a request, two workers often both counted a page at once with
# nothing in flight; the third cut the large extract from 134 s to 98 s (measured).
WORKERS = 3
DEPTH = 32  # pages held ahead of the caller (up to twice that, see read_ahead): ~6-12 MB
JOIN_TIMEOUT_S = 10.0


@dataclass
class _List(Generic[T]):
    pages: deque[T] = field(default_factory=deque)
    done: bool = False
    error: BaseException | None = None


class _Shared(Generic[T]):
    def __init__(self, count: int, depth: int) -> None:
        # Only lists a worker has started and the caller has not finished: a sync has
        # ~17,000 lists, and a deque apiece for all of them was ~10 MB.
        self.lists: dict[int, _List[T]] = {}
        self.count = count
        self.depth = depth
        self.next_list = 0  # the next list a worker takes
        self.current = 0  # the list the caller is reading
        self.held = 0  # pages fetched and not yet taken
        self.stop = False
        self.changed = threading.Condition()

    def take_list(self) -> int | None:
        with self.changed:
            if self.stop or self.next_list >= self.count:
                return None
            self.lists[self.next_list] = _List()
            self.next_list += 1
            return self.next_list - 1

    def put(self, index: int, page: T) -> bool:
        with self.changed:
            # Lists ahead of the caller's wait for room; the caller's own list only waits
            # for its own pages to be taken (else it could wait on pages behind it).
            while not self.stop and self._full(index):
                self.changed.wait()
            if self.stop:
                return False
            self.lists[index].pages.append(page)
            self.held += 1
            self.changed.notify_all()
            return True

    def _full(self, index: int) -> bool:
        if index == self.current:
            return len(self.lists[index].pages) >= self.depth
        return self.held >= self.depth

    def finish(self, index: int, error: BaseException | None = None) -> None:
        with self.changed:
            self.lists[index].done = True
            self.lists[index].error = error
            if error is not None:
                self.stop = True  # no point fetching further: the caller will fail here
            self.changed.notify_all()

    def take_page(self) -> tuple[int, T] | None:
        """The caller's next page, in list order; None when every list is read."""
        with self.changed:
            while self.current < self.count:
                entry = self.lists.get(self.current)
                if entry is not None and entry.pages:
                    self.held -= 1
                    self.changed.notify_all()
                    return self.current, entry.pages.popleft()
                if entry is not None and entry.done:
                    if entry.error is not None:
                        raise entry.error
                    del self.lists[self.current]
                    self.current += 1
                    self.changed.notify_all()
                    continue
                self.changed.wait()
            return None

    def halt(self) -> None:
        with self.changed:
            self.stop = True
            self.changed.notify_all()


def read_ahead(lists: Sequence[L], fetch: Callable[[L], Iterator[T]], *,
               workers: int = WORKERS, depth: int = DEPTH,
               relay: Callable[[], None] | None = None) -> Iterator[tuple[int, T]]:
    """(list index, page) for every page of every list, in list order then page order.

    `fetch(list)` yields one list's pages; it runs on up to `workers` threads. Held pages
    are bounded: later lists stop at `depth` held in all, and the caller's own list at
    `depth` of its own. An error in a fetch is raised here when the
    caller reaches that list. If the caller stops early (or fails), the workers stop.
    `relay` runs in the caller's thread before each page and at the end: for messages
    the workers held back.
    """
    shared: _Shared[T] = _Shared(len(lists), depth)

    def work() -> None:
        while (index := shared.take_list()) is not None:
            try:
                for page in fetch(lists[index]):
                    if not shared.put(index, page):
                        return
            except BaseException as exc:  # handed to the caller, in list order
                shared.finish(index, exc)
                return
            shared.finish(index)

    threads = [threading.Thread(target=work, name=f"litmos-fetch-{n}", daemon=True)
               for n in range(max(1, min(workers, len(lists))))]
    for thread in threads:
        thread.start()
    try:
        while (item := shared.take_page()) is not None:
            if relay:
                relay()
            yield item
    finally:
        shared.halt()
        for thread in threads:
            thread.join(JOIN_TIMEOUT_S)
        if relay:
            relay()
