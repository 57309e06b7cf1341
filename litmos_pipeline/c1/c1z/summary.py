"""What one write produced, and the per-stage clock it is timed with."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class C1zSummary:
    """What write_c1z produced."""

    path: Path
    sync_id: str
    counts: dict[str, int]
    size_bytes: int
    sqlite_bytes: int
    sha256: str
    # Per stage; "indexes" runs in the background alongside "resources", so they overlap.
    stage_seconds: dict[str, float]
    # Wall-clock seconds for the whole write.
    seconds: float = 0.0

    @property
    def sha256_bytes(self) -> bytes:
        """Raw 32-byte digest, as UploadAsset's eof.sha256_checksum wants it."""
        return bytes.fromhex(self.sha256)

    @property
    def total_seconds(self) -> float:
        return self.seconds


@contextlib.contextmanager
def stage(stages: dict[str, float], name: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        stages[name] = stages.get(name, 0.0) + time.perf_counter() - start
