"""Injected faults for the Litmos sandbox: what a rule or a rate picks, and the
seeded draws that decide which request gets it."""

from __future__ import annotations

import random
import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

# "cut": Content-Length promises the whole body, half is sent, the socket is closed.
# "malformed": a 200 whose body (length matching) does not parse.
# "repeat": a list page (start > 0) answered with the previous page's rows.
# "401": answered as if the key were revoked (with ``after``: half way through a sync).
FAULT_KINDS = ("503", "504", "drop", "slow", "cut", "malformed", "repeat", "401")


@dataclass(frozen=True)
class FaultRule:
    """A targeted fault: applies to requests whose method matches (None: any) and
    whose path below ``/v1.svc`` starts with ``path_prefix``, with probability
    ``rate``, at most ``count`` times (None: no limit), once ``after`` matching requests
    have been answered normally. Example: fail the next two requests to /users with
    ``FaultRule("503", count=2, path_prefix="/users")``; revoke the key after 20
    requests with ``FaultRule("401", after=20)``."""

    kind: str  # one of FAULT_KINDS; "drop" closes the socket without answering
    count: int | None = None
    rate: float = 1.0
    path_prefix: str = ""
    method: str | None = None
    slow_ms: float = 2000.0
    after: int = 0

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"FaultRule.kind must be one of {FAULT_KINDS}, got {self.kind!r}")
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError(f"FaultRule.rate must be within [0, 1], got {self.rate}")
        if self.count is not None and self.count < 0:
            raise ValueError(f"FaultRule.count must be >= 0 or None, got {self.count}")
        if self.after < 0:
            raise ValueError(f"FaultRule.after must be >= 0, got {self.after}")


@dataclass(frozen=True)
class FaultConfig:
    """Faults for every API request: a fixed ``latency_ms`` before answering, then
    targeted ``rules`` (first that fires wins), then the global shares of spurious
    503s, 504s, dropped connections and slow answers (``slow_ms`` extra). The
    draws come from one RNG seeded with ``seed``."""

    latency_ms: float = 0.0
    error_503_rate: float = 0.0
    error_504_rate: float = 0.0
    drop_rate: float = 0.0
    slow_rate: float = 0.0
    slow_ms: float = 2000.0
    seed: int = 0
    rules: tuple[FaultRule, ...] = ()

    def __post_init__(self) -> None:
        shares = (self.error_503_rate, self.error_504_rate, self.drop_rate, self.slow_rate)
        if any(s < 0 for s in shares) or sum(shares) > 1.0:
            raise ValueError(f"FaultConfig rates must be >= 0 and sum to <= 1, got {shares}")
        if self.latency_ms < 0 or self.slow_ms < 0:
            raise ValueError("FaultConfig.latency_ms and slow_ms must be >= 0")

    @classmethod
    def from_rates(cls, *, fail_rate: float = 0.0, drop_rate: float = 0.0,
                   slow_rate: float = 0.0, slow_ms: float = 2000.0, latency_ms: float = 0.0,
                   seed: int = 0) -> FaultConfig:
        """``fail_rate`` is split evenly between 503 and 504 answers."""
        return cls(latency_ms=latency_ms, error_503_rate=fail_rate / 2,
                   error_504_rate=fail_rate / 2, drop_rate=drop_rate, slow_rate=slow_rate,
                   slow_ms=slow_ms, seed=seed)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FaultConfig:
        known = {"latency_ms", "error_503_rate", "error_504_rate", "drop_rate", "slow_rate",
                 "slow_ms", "seed", "rules", "fail_rate"}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault settings {sorted(unknown)}; known: {sorted(known)}")
        values = {k: v for k, v in data.items() if k not in ("rules", "fail_rate")}
        if "fail_rate" in data:
            values.setdefault("error_503_rate", data["fail_rate"] / 2)
            values.setdefault("error_504_rate", data["fail_rate"] / 2)
        rules = tuple(FaultRule(**r) for r in data.get("rules", ()))
        return cls(**values, rules=rules)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class FaultInjector:
    """Runtime state of a FaultConfig: the RNG and the rules' remaining counts."""

    def __init__(self, config: FaultConfig) -> None:
        self._lock = threading.Lock()
        self.set(config)

    def set(self, config: FaultConfig) -> None:
        with self._lock:
            self.config = config
            self._rng = random.Random(config.seed)
            self._remaining = [rule.count for rule in config.rules]
            self._skip = [rule.after for rule in config.rules]

    def add_rule(self, rule: FaultRule) -> None:
        with self._lock:
            self.config = replace(self.config, rules=(*self.config.rules, rule))
            self._remaining.append(rule.count)
            self._skip.append(rule.after)

    def draw(self, method: str, api_path: str, start: int = 0) -> tuple[str | None, float]:
        """The fault to inject for one request (one of FAULT_KINDS or None) and the
        slow delay in ms. ``start`` is the request's paging offset: "repeat" needs a
        previous page, so it passes over first pages without being used up."""
        with self._lock:
            cfg = self.config
            for i, rule in enumerate(cfg.rules):
                left = self._remaining[i]
                if left == 0:
                    continue
                if rule.method is not None and rule.method.upper() != method:
                    continue
                if not api_path.startswith(rule.path_prefix):
                    continue
                if rule.kind == "repeat" and start == 0:
                    continue
                if self._skip[i] > 0:
                    self._skip[i] -= 1
                    continue
                if rule.rate < 1.0 and self._rng.random() >= rule.rate:
                    continue
                if left is not None:
                    self._remaining[i] = left - 1
                return rule.kind, rule.slow_ms
            total = cfg.error_503_rate + cfg.error_504_rate + cfg.drop_rate + cfg.slow_rate
            if total <= 0:
                return None, 0.0
            r = self._rng.random()
            for kind, share in (("503", cfg.error_503_rate), ("504", cfg.error_504_rate),
                                ("drop", cfg.drop_rate), ("slow", cfg.slow_rate)):
                if r < share:
                    return kind, cfg.slow_ms
                r -= share
            return None, 0.0

    def remaining(self) -> list[int | None]:
        with self._lock:
            return list(self._remaining)
