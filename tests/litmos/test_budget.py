"""The key's request budget shared across processes (litmos.budget)."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

import pytest

from litmos_pipeline.litmos.budget import PROVISION, SYNC, KeyBudget, Shares, key_id


class FakeClock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def budget(path: Path, clock: FakeClock, shares: Shares | None = None) -> KeyBudget:
    return KeyBudget(path, "k", shares or Shares.for_rates(90, 10), clock=clock,
                     sleep=clock.sleep)


def take(b: KeyBudget, lane: str, limit: int = 1000) -> int:
    n = 0
    while n < limit and b.try_acquire(lane):
        n += 1
    return n


def wait_for_the_window(clock: FakeClock, waiter: KeyBudget, lane: str) -> None:
    """Half a second before the window frees, the waiting lane polls once more (as it does
    every 0.5 s), then the window frees."""
    clock.now += 61.5
    assert not waiter.try_acquire(lane)
    clock.now += 0.5


def test_shares_follow_the_two_rates() -> None:
    assert Shares.for_rates(90, 10) == Shares(100, 45, 10)
    assert Shares.for_rates(9, 1) == Shares(10, 4, 1)


def test_the_window_holds_the_key_limit_and_then_frees(tmp_path: Path) -> None:
    clock = FakeClock()
    b = budget(tmp_path / "b.sqlite", clock)
    assert take(b, PROVISION) == 100
    started = clock.now
    assert b.acquire(PROVISION) > 0  # blocks until the first second's starts leave
    assert clock.now - started >= 61.0  # the window plus the in-flight margin
    assert b.counts() == {SYNC: 0, PROVISION: 1}


def test_a_waiting_sync_keeps_half_its_rate_against_a_flood_of_grants(tmp_path: Path) -> None:
    clock = FakeClock()
    path = tmp_path / "b.sqlite"
    grants, sync = budget(path, clock), budget(path, clock)
    assert take(grants, PROVISION) == 100
    assert not sync.try_acquire(SYNC)  # held back: it now waits
    wait_for_the_window(clock, sync, SYNC)
    # The grants may take the window only as far as leaves the sync its 45.
    assert take(grants, PROVISION) == 100 - 45
    assert take(sync, SYNC) == 45


def test_provisioning_finds_room_at_once_beside_a_busy_sync_lane(tmp_path: Path) -> None:
    # A sync and a refresh together fill the sync lane; an approval must not wait for the
    # window (it did, ~8 s, when the lane could take the whole key while no grant asked).
    clock = FakeClock()
    path = tmp_path / "b.sqlite"
    grants, sync, refresh = budget(path, clock), budget(path, clock), budget(path, clock)
    assert take(sync, SYNC, 60) + take(refresh, SYNC) == 90  # the lane stops at 100 - 10
    assert take(grants, PROVISION) == 10  # at once, nobody having asked before
    clock.now += 62  # a new window; a grant flow takes 4, and the lane leaves 10 beside it
    assert take(grants, PROVISION, 4) == 4
    assert take(sync, SYNC) == 86


def test_a_sync_below_its_share_does_not_keep_headroom_for_grants(tmp_path: Path) -> None:
    clock = FakeClock()
    path = tmp_path / "b.sqlite"
    grants, sync = budget(path, clock), budget(path, clock)
    assert take(grants, PROVISION, 80) == 80
    assert take(sync, SYNC) == 20  # below its 45: it may use the key up to its limit


def test_a_lane_that_gave_up_waiting_reserves_nothing(tmp_path: Path) -> None:
    clock = FakeClock()
    path = tmp_path / "b.sqlite"
    grants, sync = budget(path, clock), budget(path, clock)
    take(grants, PROVISION)
    assert not sync.try_acquire(SYNC)
    clock.now += 63  # the window has passed, and the sync's waiting row (2 s) is stale
    assert take(grants, PROVISION) == 100


def test_keys_do_not_share_a_budget(tmp_path: Path) -> None:
    clock = FakeClock()
    path = tmp_path / "b.sqlite"
    shares = Shares.for_rates(9, 1)
    a = KeyBudget(path, key_id("u", "key-a"), shares, clock=clock, sleep=clock.sleep)
    b = KeyBudget(path, key_id("u", "key-b"), shares, clock=clock, sleep=clock.sleep)
    assert take(a, SYNC) == 9  # the last start of the window is provisioning's
    assert take(b, SYNC) == 9
    assert "key-a" not in key_id("u", "key-a")


def test_a_clock_stepped_back_does_not_block_for_ever(tmp_path: Path) -> None:
    clock = FakeClock()
    b = budget(tmp_path / "b.sqlite", clock)
    take(b, SYNC)
    clock.now -= 3600  # rows "from the future" are dropped
    assert b.try_acquire(SYNC)


def test_unknown_lane_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="lane"):
        budget(tmp_path / "b.sqlite", FakeClock()).acquire("bulk")


WINDOW_S = 2.0
LIMIT = 20


def _worker(path: str, lane: str, n: int, out: multiprocessing.Queue) -> None:
    # A 2 s window in 50 ms buckets stands in for the key's minute.
    # Each start is reported at the clock reading the budget stamped it with: a time taken
    # after acquire returns could be late by however long a loaded machine kept this
    # process off the CPU, and would crowd the reported starts together.
    last: list[float] = []

    def clock() -> float:
        last.append(time.time())
        return last[-1]

    b = KeyBudget(Path(path), "k", Shares(LIMIT, 8, 4), window_s=WINDOW_S, margin_s=0.0,
                  bucket_s=0.05, clock=clock)
    for _ in range(n):
        b.acquire(lane)
        out.put((lane, last[-1]))
    b.close()


def test_processes_together_never_exceed_the_limit(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    lanes = [SYNC, PROVISION, PROVISION, PROVISION]
    procs = [ctx.Process(target=_worker, args=(str(tmp_path / "b.sqlite"), lane, 15, out))
             for lane in lanes]
    for p in procs:
        p.start()
    starts = [out.get(timeout=120) for _ in range(15 * len(lanes))]
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    times = sorted(t for _, t in starts)
    busiest = max(sum(1 for u in times[i:] if u < t + WINDOW_S) for i, t in enumerate(times))
    assert busiest <= LIMIT
    assert sum(1 for lane, _ in starts if lane == SYNC) == 15


def test_a_sync_between_two_requests_still_has_its_share_kept(tmp_path: Path) -> None:
    # A sync asks every 0.7 s: right after it got a start, a flood of grants must still
    # leave it room, or it gets only what the grants happen to leave.
    clock = FakeClock()
    path = tmp_path / "b.sqlite"
    grants, sync = budget(path, clock), budget(path, clock)
    assert sync.try_acquire(SYNC)
    clock.now += 0.5
    assert take(grants, PROVISION) == 100 - 45
    clock.now += 2.5  # the sync stopped asking: its share is free again
    assert take(grants, PROVISION) == 44
