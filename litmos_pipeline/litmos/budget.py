"""One request budget per Litmos API key, shared by every process of the project.

Each client also paces itself (`pacing.Pacer`), but a sync, a refresh and several
provisioning runs each pacing to their own rate add up: with 7 provisioning runs beside a
sync the key saw 187-203 requests in a minute and 87-195 rate-limit 503s (RELIABILITY.md).
So every request start is also drawn from this budget: a small SQLite file beside the
warehouse, counting starts per key and lane in one-second buckets over a sliding window.

SQLite rather than a Dagster pool: a pool counts slots held, not starts per minute, and
a client outside a run (a sensor, `dagster job execute` on an ephemeral instance, a
benchmark) has none. SQLite's `BEGIN IMMEDIATE` serialises the processes on one machine.

Two lanes share the key's `per_minute`: "provision" (access requests, latency matters)
and "sync" (full syncs and refreshes). Provisioning has priority: the sync lane never
takes the key's last `provision_guaranteed` starts of a window (10 of 100 by default,
what the sync's own rate leaves free), so an approval finds room the moment it comes.
Before, the sync lane could fill the key whenever provisioning was idle, and a sync plus
a refresh did: beside them a grant waited ~8 s for the window to free, and provisioning's
median was 13.7 s against its 10 s target (BENCHMARKS.md, "The delta refresh").
A lane that asked in the last two seconds is wanting (a row in `waiting`), and while it
wants the other lane also leaves room for its guaranteed share: the sync's is half its
rate (45), so a thousand queued grants cannot starve a sync either. Starts are counted
for `window_s` plus `margin_s` (an answer delayed in flight must not land inside the
key's minute twice).
"""

from __future__ import annotations

import hashlib
import math
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

SYNC = "sync"
PROVISION = "provision"
LANES = (SYNC, PROVISION)
BUDGET_FILE = "litmos-key-budget.sqlite"
WAITING_FRESH_S = 2.0  # a lane that has not asked for this long wants nothing (or died)
MAX_POLL_S = 0.5  # a held-back lane re-checks this often (and so keeps its row fresh)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS starts (
    key TEXT NOT NULL, lane TEXT NOT NULL, bucket INTEGER NOT NULL, n INTEGER NOT NULL,
    PRIMARY KEY (key, lane, bucket));
CREATE TABLE IF NOT EXISTS waiting (
    key TEXT NOT NULL, lane TEXT NOT NULL, pid INTEGER NOT NULL, seen REAL NOT NULL,
    PRIMARY KEY (key, lane, pid));
"""


def key_id(base_url: str, api_key: str) -> str:
    """The key's name in the budget file: a hash prefix, never the key itself."""
    return hashlib.sha256(f"{base_url}\n{api_key}".encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Shares:
    """The key's limit and each lane's guaranteed share while the other lane waits."""

    per_minute: int
    sync_guaranteed: int
    provision_guaranteed: int

    @classmethod
    def for_rates(cls, sync_per_minute: float, provision_per_minute: float) -> Shares:
        # The defaults were chosen to add up to the key's limit: 90 + 10 = 100 a minute.
        total = max(1, math.floor(sync_per_minute + provision_per_minute))
        return cls(per_minute=total,
                   sync_guaranteed=max(1, math.floor(sync_per_minute / 2)),
                   provision_guaranteed=max(1, math.floor(provision_per_minute)))


class KeyBudget:
    """Request starts for one key, across processes; `acquire` blocks until one is free."""

    def __init__(self, path: Path, key: str, shares: Shares, *, window_s: float = 60.0,
                 margin_s: float = 1.0, bucket_s: float = 1.0,
                 clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.path = Path(path)
        self.key = key
        self.shares = shares
        self.bucket_s = bucket_s
        # Buckets a start counts in: all of the window and margin, plus the current one.
        self.buckets = math.ceil((window_s + margin_s) / bucket_s) + 1
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._con: sqlite3.Connection | None = None

    def acquire(self, lane: str) -> float:
        """Record one request start in `lane` once the key has room; the seconds waited."""
        if lane not in LANES:
            raise ValueError(f"unknown budget lane {lane!r}")
        waited = 0.0
        with self._lock:
            while True:
                delay = self._try(lane)
                if delay is None:
                    return waited
                self._sleep(delay)
                waited += delay

    def try_acquire(self, lane: str) -> bool:
        """One attempt: record a start if the key has room now (a held-back lane waits)."""
        with self._lock:
            return self._try(lane) is None

    def counts(self) -> dict[str, int]:
        """Starts per lane in the current window (for tests and progress lines)."""
        with self._lock:
            con = self._connection()
            now_bucket = self._bucket(self._clock())
            return self._lane_counts(con, now_bucket)

    def close(self) -> None:
        with self._lock:
            if self._con is not None:
                self._con.close()
                self._con = None

    # -- one attempt, in one transaction ---------------------------------------------------

    def _try(self, lane: str) -> float | None:
        con = self._connection()
        con.execute("BEGIN IMMEDIATE")
        try:
            # The clock is read once the write lock is held: BEGIN IMMEDIATE can wait for
            # another process's transaction, and a start stamped before that wait would
            # sit in an older bucket and leave the window early (seen on a loaded machine:
            # 21 starts in a 2 s window of 20).
            now = self._clock()
            bucket = self._bucket(now)
            oldest = bucket - self.buckets + 1
            # Rows outside the window, and rows "from the future" after a clock step back.
            con.execute("DELETE FROM starts WHERE key = ? AND (bucket < ? OR bucket > ?)",
                        (self.key, oldest, bucket))
            counts = self._lane_counts(con, bucket)
            # Every attempt, granted or not, says the lane wants the key: a sync asks again
            # within 0.7 s of its last start, and the other lane must keep its share for it
            # in between too (measured: with the row dropped on each grant, a sync beside
            # six provisioning runs got ~30 requests a minute, not its 45).
            con.execute("INSERT INTO waiting VALUES (?, ?, ?, ?) ON CONFLICT "
                        "DO UPDATE SET seen = excluded.seen", (self.key, lane, os.getpid(), now))
            if self._room(con, lane, counts, now):
                con.execute("INSERT INTO starts VALUES (?, ?, ?, 1) ON CONFLICT "
                            "DO UPDATE SET n = n + 1", (self.key, lane, bucket))
                con.execute("COMMIT")
                return None
            first = con.execute("SELECT min(bucket) FROM starts WHERE key = ?",
                                (self.key,)).fetchone()[0]
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        # The earliest moment anything changes: the oldest bucket leaving the window.
        frees_at = ((first if first is not None else bucket) + self.buckets) * self.bucket_s
        return min(max(frees_at - now, 0.01), MAX_POLL_S)

    def _room(self, con: sqlite3.Connection, lane: str, counts: dict[str, int],
              now: float) -> bool:
        shares = self.shares
        if lane == SYNC:
            # Provisioning's headroom, kept whether or not an approval waits right now;
            # a sync below its own guaranteed share does not give it up to a grant flood.
            below_share = counts[SYNC] < shares.sync_guaranteed
            reserved = 0 if below_share else shares.provision_guaranteed
        elif self._is_waiting(con, SYNC, now):
            reserved = max(0, shares.sync_guaranteed - counts[SYNC])
        else:
            reserved = 0
        return sum(counts.values()) + 1 + reserved <= shares.per_minute

    def _is_waiting(self, con: sqlite3.Connection, lane: str, now: float) -> bool:
        row = con.execute("SELECT 1 FROM waiting WHERE key = ? AND lane = ? AND seen > ? "
                          "LIMIT 1", (self.key, lane, now - WAITING_FRESH_S)).fetchone()
        return row is not None

    def _lane_counts(self, con: sqlite3.Connection, bucket: int) -> dict[str, int]:
        rows = con.execute("SELECT lane, sum(n) FROM starts WHERE key = ? AND bucket > ? "
                           "AND bucket <= ? GROUP BY lane",
                           (self.key, bucket - self.buckets, bucket)).fetchall()
        counts = dict.fromkeys(LANES, 0)
        counts.update({lane: int(n) for lane, n in rows})
        return counts

    def _bucket(self, t: float) -> int:
        return math.floor(t / self.bucket_s)

    def _connection(self) -> sqlite3.Connection:
        if self._con is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Autocommit mode: transactions are the explicit BEGIN IMMEDIATE above.
            con = sqlite3.connect(self.path, timeout=30.0, isolation_level=None,
                                  check_same_thread=False)
            con.execute("PRAGMA journal_mode = WAL")
            # A lost start after a power cut only makes the next minute a little fuller.
            con.execute("PRAGMA synchronous = OFF")
            con.executescript(_SCHEMA)
            self._con = con
        return self._con
