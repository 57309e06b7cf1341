"""ReadAhead: page order, lists in order, errors, early stops, bounded lookahead, relays."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from litmos_pipeline.litmos.prefetch import ReadAhead


def pages_of(sizes: dict[str, int], delay_s: float = 0.0):  # noqa: ANN201
    def fetch(name: str) -> Iterator[str]:
        for i in range(sizes[name]):
            if delay_s:
                time.sleep(delay_s)
            yield f"{name}{i}"
    return fetch


def test_every_page_arrives_in_page_order_with_lists_taken_in_order() -> None:
    sizes = {"a": 3, "b": 0, "c": 5, "d": 1, "e": 2}
    threads: set[str] = set()
    taken: list[str] = []

    def fetch(name: str) -> Iterator[str]:
        threads.add(threading.current_thread().name)
        taken.append(name)
        # Earlier lists answer slower, so later ones overtake them.
        yield from pages_of(sizes, delay_s=0.01 if name in "ac" else 0.0)(name)

    ahead = ReadAhead(list(sizes), fetch, workers=2, depth=2)
    got = list(ahead)
    for n, name in enumerate(sizes):
        assert [page for i, page in got if i == n] == [f"{name}{i}" for i in range(sizes[name])]
    assert len(got) == sum(sizes.values())
    # Lists are taken in order; two workers may race between taking one and starting it.
    assert sorted(taken) == sorted(sizes)
    assert all(abs(taken.index(name) - n) <= 1 for n, name in enumerate(sizes))
    assert threads == {"litmos-fetch-0", "litmos-fetch-1"}
    assert ahead.lists_done == len(sizes)


def test_a_long_list_does_not_hold_back_the_lists_after_it() -> None:
    # A list of 30 slow pages, then 40 one-page lists: the other worker reads those while
    # the long one is still going, though only 4 pages may wait for the caller.
    sizes = {"long": 30} | {f"s{n}": 1 for n in range(40)}
    slow, fast = pages_of(sizes, delay_s=0.005), pages_of(sizes, delay_s=0.001)

    def fetch(name: str) -> Iterator[str]:
        return slow(name) if name == "long" else fast(name)

    got = list(ReadAhead(list(sizes), fetch, workers=2, depth=4))
    last_short = max(k for k, (n, _) in enumerate(got) if n > 0)
    last_long = max(k for k, (n, _) in enumerate(got) if n == 0)
    assert last_short < last_long
    assert len(got) == 70


def test_two_workers_overlap_slow_lists() -> None:
    started = time.monotonic()
    got = list(ReadAhead(list("abcdefgh"), pages_of(dict.fromkeys("abcdefgh", 1), 0.05)))
    assert len(got) == 8
    assert time.monotonic() - started < 0.05 * 8 * 0.8  # sequential would take 0.4 s


def test_a_fetch_error_reaches_the_caller_and_stops_the_workers() -> None:
    fetched: list[str] = []

    def fetch(name: str) -> Iterator[str]:
        if name == "b":
            yield "b0"
            raise ValueError("list b page 2 is broken")
        for page in pages_of({name: 50}, delay_s=0.002)(name):
            fetched.append(page)
            yield page

    seen: list[str] = []
    with pytest.raises(ValueError, match="list b page 2 is broken"):
        for _, page in ReadAhead(["a", "b", "c"], fetch, workers=3):
            seen.append(page)
    assert set(seen) <= {"b0"} | set(fetched)
    count = len(fetched)
    time.sleep(0.05)
    assert len(fetched) <= count + 2  # the workers stopped
    assert count < 100


def test_workers_stay_within_depth_of_a_slow_caller_and_stop_with_it() -> None:
    fetched: list[str] = []

    def fetch(name: str) -> Iterator[str]:
        for page in pages_of({name: 100})(name):
            fetched.append(page)
            yield page

    items = iter(ReadAhead(["a", "b", "c"], fetch, workers=3, depth=4))
    assert next(items)[1] in {"a0", "b0", "c0"}
    time.sleep(0.2)
    assert len(fetched) <= 1 + 4 + 3  # taken, held, one more in hand per worker
    items.close()
    count = len(fetched)
    time.sleep(0.1)
    assert len(fetched) <= count + 2  # the workers stopped


def test_relay_runs_in_the_callers_thread_before_each_page_and_at_the_end() -> None:
    calls: list[str] = []

    def relay() -> None:
        calls.append(threading.current_thread().name)

    got = list(ReadAhead(["a"], pages_of({"a": 2}), relay=relay))
    assert got == [(0, "a0"), (0, "a1")]
    assert set(calls) == {threading.current_thread().name}
    assert len(calls) >= 3
