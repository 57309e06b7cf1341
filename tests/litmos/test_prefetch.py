"""read_ahead: list and page order, errors, early stops, bounded lookahead, relays."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from litmos_pipeline.litmos.prefetch import read_ahead


def pages_of(sizes: dict[str, int], delay_s: float = 0.0):  # noqa: ANN201
    def fetch(name: str) -> Iterator[str]:
        for i in range(sizes[name]):
            if delay_s:
                time.sleep(delay_s)
            yield f"{name}{i}"
    return fetch


def test_pages_arrive_in_list_order_then_page_order_from_worker_threads() -> None:
    sizes = {"a": 3, "b": 0, "c": 5, "d": 1, "e": 2}
    threads: set[str] = set()

    def fetch(name: str) -> Iterator[str]:
        threads.add(threading.current_thread().name)
        # Later lists answer faster, so workers finish out of order.
        yield from pages_of(sizes, delay_s=0.01 if name in "ac" else 0.0)(name)

    got = list(read_ahead(list(sizes), fetch, workers=2, depth=2))
    expected = [(n, f"{name}{i}") for n, name in enumerate(sizes) for i in range(sizes[name])]
    assert got == expected
    assert threads == {"litmos-fetch-0", "litmos-fetch-1"}


def test_two_workers_overlap_slow_lists() -> None:
    started = time.monotonic()
    got = list(read_ahead(list("abcdefgh"), pages_of(dict.fromkeys("abcdefgh", 1), 0.05)))
    assert len(got) == 8
    assert time.monotonic() - started < 0.05 * 8 * 0.8  # sequential would take 0.4 s


def test_a_fetch_error_is_raised_when_the_caller_reaches_that_list() -> None:
    def fetch(name: str) -> Iterator[str]:
        if name == "b":
            yield "b0"
            raise ValueError("list b page 2 is broken")
        yield from pages_of({"a": 2, "c": 2})(name)

    seen: list[str] = []
    with pytest.raises(ValueError, match="list b page 2 is broken"):
        for _, page in read_ahead(["a", "b", "c"], fetch):
            seen.append(page)
    assert seen == ["a0", "a1", "b0"]


def test_workers_stay_within_depth_of_a_slow_caller_and_stop_with_it() -> None:
    fetched: list[str] = []

    def fetch(name: str) -> Iterator[str]:
        for page in pages_of({name: 100})(name):
            fetched.append(page)
            yield page

    items = read_ahead(["a", "b", "c"], fetch, workers=3, depth=4)
    assert next(items) == (0, "a0")
    time.sleep(0.2)
    # taken; up to depth of later lists' pages and depth of the caller's own list held;
    # one more in hand per worker
    assert len(fetched) <= 1 + 4 + 4 + 3
    items.close()
    count = len(fetched)
    time.sleep(0.1)
    assert len(fetched) <= count + 2  # the workers stopped


def test_relay_runs_in_the_callers_thread_before_each_page_and_at_the_end() -> None:
    calls: list[str] = []

    def relay() -> None:
        calls.append(threading.current_thread().name)

    got = list(read_ahead(["a"], pages_of({"a": 2}), relay=relay))
    assert got == [(0, "a0"), (0, "a1")]
    assert set(calls) == {threading.current_thread().name}
    assert len(calls) >= 3
