"""Deterministic helpers: hashes, opaque ids and the tenant's frozen calendar.

Everything here depends only on its arguments (hashlib, not ``hash()``), so the same
spec and seed give the same tenant in every process.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import date, timedelta

M64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15


def mix64(x: int) -> int:
    """splitmix64 finaliser: a cheap, well-spread 64-bit hash of an int."""
    x = (x + _GOLDEN) & M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & M64
    return x ^ (x >> 31)


def derive_seed(seed: int, *labels: object) -> int:
    """A 64-bit seed for one purpose; hashlib, so independent of PYTHONHASHSEED."""
    text = ":".join([str(seed), *map(str, labels)]).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big")


_ID_TRANSLATE = str.maketrans({"-": "_"})


def opaque_id(seed: int, kind: str, n: int, attempt: int = 0) -> str:
    """A 12-character id like ``mVN_K4Q9yuQ1``: 9 hash bytes in url-safe base64."""
    digest = hashlib.blake2b(f"{seed}:{kind}:{n}:{attempt}".encode(), digest_size=9).digest()
    return base64.urlsafe_b64encode(digest).decode().translate(_ID_TRANSLATE)


# Dates are days from _DAY0, rendered through a table: formatting a date per
# enrollment row with datetime would dominate the cost of a page.
_DAY0 = date(2015, 1, 1)
NOW_DAY = (date(2025, 6, 1) - _DAY0).days  # the tenant's frozen "today"
DAYS: list[str] = [(_DAY0 + timedelta(days=d)).isoformat() for d in range(NOW_DAY + 1200)]


def day_number(d: date) -> int:
    """The tenant's day number of a calendar date (``NOW_DAY`` is 2025-06-01)."""
    return (d - _DAY0).days


def _day(d: int) -> str:
    return DAYS[min(d, len(DAYS) - 1)]


def _hms(x: int) -> str:
    s = x % 86400
    return f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}"


def stamp_z(day: int, x: int) -> str:
    """``2016-12-09T07:54:27Z`` form."""
    return f"{_day(day)}T{_hms(x)}Z"


def stamp_ms(day: int, x: int) -> str:
    """``2016-12-09T07:54:27.123`` form (no zone); the API uses both."""
    return f"{_day(day)}T{_hms(x)}.{(x >> 20) % 1000:03d}"


def midnight(day: int) -> str:
    return f"{_day(day)}T00:00:00"
