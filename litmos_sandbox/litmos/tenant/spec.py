"""What to generate: ``TenantSpec`` and its named presets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

_PRESETS: dict[str, dict[str, Any]] = {
    "tiny": dict(users=10, teams=3, courses=3, enrollments=15, inactive_share=0.1,
                 members_per_team=4, members_jitter=0, learning_paths=2),
    "small": dict(users=1_000, teams=50, courses=20, enrollments=20_000, learning_paths=5),
    "medium": dict(users=20_000, teams=1_000, courses=300, enrollments=300_000,
                   learning_paths=30),
    "large": dict(users=100_000, teams=5_000, courses=2_000, enrollments=2_000_000,
                  max_course_enrollees=90_000, learning_paths=100),
}


@dataclass(frozen=True)
class TenantSpec:
    """What to generate. ``enrollments`` is a target total, met exactly unless it
    exceeds ``courses * max_course_enrollees``; per-course sizes follow a Zipf-like
    law with exponent ``skew`` (1.0: a large tenant gets a few 50,000+ courses)."""

    seed: int = 1
    users: int = 10
    teams: int = 3
    courses: int = 3
    enrollments: int = 15
    inactive_share: float = 0.05
    members_per_team: int = 20
    members_jitter: int | None = None  # team size = members_per_team +/- jitter; None: 1/4
    leaders_per_team: int = 1
    admins_per_team: int = 1
    max_course_enrollees: int | None = None  # None: every user may be enrolled
    skew: float = 1.0
    non_ascii: bool = True
    team_courses_max: int = 3  # each team gets 0..this many courses assigned
    # Each path holds 1..5 courses and 1..max(2, users/50) users (learning_paths.py).
    learning_paths: int = 2

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> TenantSpec:
        try:
            values = dict(_PRESETS[name])
        except KeyError:
            raise ValueError(
                f"unknown tenant preset {name!r}; expected one of {sorted(_PRESETS)}"
            ) from None
        values.update(overrides)
        return cls(**values)

    @staticmethod
    def preset_names() -> tuple[str, ...]:
        return tuple(_PRESETS)

    def validate(self) -> None:
        for name in ("users", "teams", "courses", "enrollments", "members_per_team",
                     "leaders_per_team", "admins_per_team", "team_courses_max",
                     "learning_paths"):
            if getattr(self, name) < 0:
                raise ValueError(f"TenantSpec.{name} must be >= 0, got {getattr(self, name)}")
        if not 0.0 <= self.inactive_share <= 1.0:
            raise ValueError(
                f"TenantSpec.inactive_share must be within [0, 1], got {self.inactive_share}"
            )
        if self.max_course_enrollees is not None and self.max_course_enrollees < 0:
            raise ValueError("TenantSpec.max_course_enrollees must be >= 0 or None")
        if self.skew < 0:
            raise ValueError(f"TenantSpec.skew must be >= 0, got {self.skew}")

    def course_cap(self) -> int:
        cap = self.users if self.max_course_enrollees is None else self.max_course_enrollees
        return min(cap, self.users)
