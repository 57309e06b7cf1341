"""KSUIDs: the 27-character, time-sortable ids C1 uses for sync ids and task ids.

Layout (as segmentio/ksuid, which the Baton SDK uses): 20 bytes = a 4-byte big-endian
count of seconds since the KSUID epoch (1400000000 = 2014-05-13T16:53:20Z) followed by
16 payload bytes, rendered in base62 (0-9, A-Z, a-z) and left-padded with '0' to 27
characters, so string order equals time order.
"""

from __future__ import annotations

import os
import re
import time
from datetime import UTC, datetime

KSUID_EPOCH = 1_400_000_000
KSUID_LENGTH = 27
PAYLOAD_BYTES = 16
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_INDEX = {c: i for i, c in enumerate(_ALPHABET)}
_MAX_TS_OFFSET = 2**32 - 1
_MAX_VALUE = 2**160 - 1
_KSUID_RE = re.compile(r"^[0-9A-Za-z]{27}$")


def _timestamp_seconds(timestamp: datetime | float | int) -> int:
    if isinstance(timestamp, datetime):
        if timestamp.tzinfo is None:
            raise ValueError("KSUID timestamp must be timezone-aware (naive datetime given)")
        return int(timestamp.timestamp())
    return int(timestamp)


def ksuid_from(timestamp: datetime | float | int, payload: bytes) -> str:
    """Build a KSUID deterministically from a time (aware datetime or unix seconds) and 16 bytes."""
    if len(payload) != PAYLOAD_BYTES:
        raise ValueError(f"KSUID payload must be {PAYLOAD_BYTES} bytes, got {len(payload)}")
    offset = _timestamp_seconds(timestamp) - KSUID_EPOCH
    if not 0 <= offset <= _MAX_TS_OFFSET:
        raise ValueError(f"timestamp {timestamp!r} is outside the KSUID range")
    value = int.from_bytes(offset.to_bytes(4, "big") + payload, "big")
    return _base62(value)


def new_ksuid(now: datetime | float | None = None) -> str:
    """A fresh KSUID for the current time (or `now`) with a random payload."""
    return ksuid_from(time.time() if now is None else now, os.urandom(PAYLOAD_BYTES))


def is_ksuid(value: str) -> bool:
    """True if `value` has the KSUID shape (27 base62 characters, in range)."""
    if not _KSUID_RE.match(value):
        return False
    return _unbase62(value) <= _MAX_VALUE


def ksuid_bytes(k: str) -> bytes:
    """The 20 raw bytes behind a KSUID string."""
    if not is_ksuid(k):
        raise ValueError(f"not a KSUID: {k!r}")
    return _unbase62(k).to_bytes(20, "big")


def ksuid_time(k: str) -> datetime:
    """The (UTC, whole-second) creation time embedded in a KSUID."""
    offset = int.from_bytes(ksuid_bytes(k)[:4], "big")
    return datetime.fromtimestamp(KSUID_EPOCH + offset, tz=UTC)


def ksuid_payload(k: str) -> bytes:
    """The 16 payload bytes of a KSUID."""
    return ksuid_bytes(k)[4:]


def _base62(value: int) -> str:
    chars: list[str] = []
    while value:
        value, rem = divmod(value, 62)
        chars.append(_ALPHABET[rem])
    return "".join(reversed(chars)).rjust(KSUID_LENGTH, "0")


def _unbase62(text: str) -> int:
    value = 0
    for c in text:
        value = value * 62 + _INDEX[c]
    return value
