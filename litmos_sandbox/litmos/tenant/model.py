"""The tenant's model objects and its error.

Mutable, owned by the tenant: read them, change them only through ``Tenant``'s write
methods.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class User:
    __slots__ = (
        "idx", "id", "user_name", "first_name", "last_name", "email", "active",
        "access_level", "brand", "created_date", "last_login", "is_custom_username",
        "teams", "extra", "_search",
    )

    def __init__(self, idx: int, id: str, user_name: str, first_name: str, last_name: str,
                 email: str, active: bool, access_level: str, brand: str, created_date: str,
                 last_login: str, is_custom_username: bool) -> None:
        self.idx = idx
        self.id = id
        self.user_name = user_name
        self.first_name = first_name
        self.last_name = last_name
        self.email = email
        self.active = active
        self.access_level = access_level
        self.brand = brand
        self.created_date = created_date
        self.last_login = last_login
        self.is_custom_username = is_custom_username
        self.teams: list[int] = []  # indexes of teams the user is a member of
        self.extra: dict[str, Any] | None = None  # detail fields set through the API
        self._search: str | None = None

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"

    def search_text(self) -> str:
        if self._search is None:
            self._search = "\x00".join(
                (self.first_name, self.last_name, self.full_name, self.user_name, self.email)
            ).casefold()
        return self._search

    def __repr__(self) -> str:
        return f"User(id={self.id!r}, user_name={self.user_name!r}, active={self.active})"


class Team:
    __slots__ = (
        "idx", "id", "name", "code", "parent", "description", "members", "leaders", "admins",
        "courses", "children", "created_date",
    )

    def __init__(self, idx: int, id: str, name: str, code: str, parent: int,
                 description: str, created_date: str = "") -> None:
        self.idx = idx
        self.id = id
        self.name = name
        self.code = code
        self.parent = parent  # team index, -1 for a top-level team
        self.description = description
        self.members: list[int] = []  # user indexes, in insertion order
        self.leaders: list[int] = []
        self.admins: list[int] = []
        self.courses: list[int] = []  # course indexes assigned to the team
        self.children: list[int] = []
        self.created_date = created_date  # the list omits it; the delta query shows it

    @property
    def original_id(self) -> int:
        """``OriginalTeamId`` of the delta records (users and courses have theirs)."""
        return 200_000 + self.idx

    def __repr__(self) -> str:
        return f"Team(id={self.id!r}, name={self.name!r})"


class Course:
    __slots__ = (
        "idx", "id", "code", "name", "active", "for_sale", "original_id", "description",
        "short_description", "long_description", "bulk_code", "price", "access_till_date",
        "access_till_days", "team_library", "created_by", "seq_id", "created_day",
        "created_date", "salt", "completion", "enrollees", "modules",
    )

    def __repr__(self) -> str:
        return f"Course(id={self.id!r}, code={self.code!r}, enrollees={len(self.enrollees)})"


@dataclass(frozen=True, slots=True)
class Enrollment:
    """One user's state in one course, as both enrollment endpoints report it."""

    course_id: str
    user_id: str
    completed: bool
    percentage_complete: int
    assigned_date: str
    start_date: str | None
    date_completed: str | None
    compliant_till: str | None
    due_date: str | None
    access_till_date: str
    up_to_date: bool
    overdue: bool
    result_id: int


# (completed, pct, assigned, start, date_completed, compliant_till, due, access_till,
#  up_to_date, overdue, result_id)
EnrollState = tuple[bool, int, str, str | None, str | None, str | None, str | None, str,
                     bool, bool, int]


class TenantError(Exception):
    """A write the API would refuse; ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def not_found(kind: str, key: str) -> TenantError:
    return TenantError(404, f"{kind} {key!r} not found")
