"""A check's verdict on one item: what was checked, how it came out, and why."""

from __future__ import annotations

from dataclasses import dataclass

PASS, WARN, FAIL, SKIP = "ok", "warning", "FAILED", "skipped"


@dataclass(frozen=True)
class Verdict:
    item: str  # e.g. "Litmos key", "C1 clock"
    outcome: str  # PASS, WARN, FAIL or SKIP
    detail: str  # one line; names the setting at fault, never a secret's value

    @property
    def failed(self) -> bool:
        return self.outcome == FAIL


def ok(item: str, detail: str) -> Verdict:
    return Verdict(item, PASS, detail)


def warn(item: str, detail: str) -> Verdict:
    return Verdict(item, WARN, detail)


def fail(item: str, detail: str) -> Verdict:
    return Verdict(item, FAIL, detail)


def skip(item: str, detail: str) -> Verdict:
    return Verdict(item, SKIP, detail)
