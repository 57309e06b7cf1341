"""The mass-revocation guard: a sync that would take away too much access is not published.

A mistyped LITMOS_SOURCE, a key of another account or a Litmos outage answering short or
empty lists reads to C1 as "these people lost their access", and C1 would act on it. So
the swap compares the staged snapshot with the published one (figures counted in DuckDB,
`main.sql`'s `removal_guard`) and refuses it when more than a set share of the published
grants or users would go, unless an operator accepted that for the run. The first sync
has nothing to compare with and is never held.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# The settings' names (declared in litmos_pipeline.settings, which this lean module must
# not import: the swap runs in a worker without pydantic); a test holds them equal.
GRANT_SETTING = "LITMOS_GUARD_MAX_GRANT_REMOVAL"
USER_SETTING = "LITMOS_GUARD_MAX_USER_REMOVAL"
# The declared defaults, for callers of the swap that pass no limits (a test holds them
# equal to the settings' defaults too).
DEFAULT_MAX_GRANT_REMOVAL = 0.2
DEFAULT_MAX_USER_REMOVAL = 0.1


@dataclass(frozen=True)
class RemovalLimits:
    """The largest shares of the published grants and users one sync may remove.

    `accepted`: an operator accepted a larger removal for this one sync.
    """

    max_grant_removal: float = DEFAULT_MAX_GRANT_REMOVAL
    max_user_removal: float = DEFAULT_MAX_USER_REMOVAL
    accepted: bool = False


DEFAULT_LIMITS = RemovalLimits()


def percent(share: float) -> str:
    """0.2 -> '20%', 0.125 -> '12.5%': limits as an operator writes them."""
    return f"{share * 100:.4g}%"


def _over(removed: int, published: int, limit: float) -> bool:
    """More than `limit` of `published`, compared in counts with a hair of slack: 3 of 10
    is exactly 30%, though 3 / 10 is 0.30000000000000004 as a float."""
    return removed > published * limit + 1e-9


@dataclass(frozen=True)
class RemovalFigures:
    """What the staged snapshot would remove from the published one, and the verdict."""

    limits: RemovalLimits
    first_sync: bool
    published_grants: int
    new_grants: int
    removed_grants: int
    published_users: int
    new_users: int
    removed_users: int

    @property
    def grant_share(self) -> float:
        return self.removed_grants / self.published_grants if self.published_grants else 0.0

    @property
    def user_share(self) -> float:
        return self.removed_users / self.published_users if self.published_users else 0.0

    def breaches(self) -> list[str]:
        """The limits this sync goes past, each with its figures and its setting."""
        if self.first_sync:
            return []
        found = []
        if _over(self.removed_grants, self.published_grants, self.limits.max_grant_removal):
            found.append(self._line("grants", self.published_grants, self.new_grants,
                                    self.removed_grants, self.grant_share, GRANT_SETTING,
                                    self.limits.max_grant_removal))
        if _over(self.removed_users, self.published_users, self.limits.max_user_removal):
            found.append(self._line("users", self.published_users, self.new_users,
                                    self.removed_users, self.user_share, USER_SETTING,
                                    self.limits.max_user_removal))
        return found

    @property
    def held(self) -> bool:
        return bool(self.breaches()) and not self.limits.accepted

    @staticmethod
    def _line(what: str, published: int, new: int, removed: int, share: float,
              setting: str, limit: float) -> str:
        return (f"it would remove {removed} of the {published} published {what} "
                f"({percent(share)}; {new} in the new snapshot), more than "
                f"{setting}={percent(limit)}")

    def describe(self) -> str:
        """One sentence for a log line or an error."""
        if self.first_sync:
            return "first sync: nothing published to compare with"
        breaches = self.breaches()
        if breaches:
            return "; ".join(breaches)
        return (f"removes {self.removed_grants} of {self.published_grants} published grants "
                f"({percent(self.grant_share)}, at most {percent(self.limits.max_grant_removal)}"
                f") and {self.removed_users} of {self.published_users} users "
                f"({percent(self.user_share)}, at most {percent(self.limits.max_user_removal)})")

    def as_metadata(self) -> dict[str, Any]:
        """The figures under stable names, for the Dagster UI (passed or held)."""
        return {
            "guard_published_grants": self.published_grants,
            "guard_new_grants": self.new_grants,
            "guard_removed_grants": self.removed_grants,
            "guard_removed_grants_share": round(self.grant_share, 4),
            "guard_max_grant_removal": self.limits.max_grant_removal,
            "guard_published_users": self.published_users,
            "guard_new_users": self.new_users,
            "guard_removed_users": self.removed_users,
            "guard_removed_users_share": round(self.user_share, 4),
            "guard_max_user_removal": self.limits.max_user_removal,
            "guard_first_sync": self.first_sync,
            "guard_accepted": self.limits.accepted and bool(self.breaches()),
            "guard_held": self.held,
        }
