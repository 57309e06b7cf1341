"""When each record last changed, for the delta (date-range) queries.

Only records changed after generation are stored here, in dicts keyed by index (user,
team, course) or by index pair ((team, user), (course, user)): the large preset's 100k
users and 2M enrollments cost nothing until something changes. A generated record's
change time is its creation date in the tenant's past (before ``HORIZON``), derived on
demand by ``history.py``.

A removal (unassigned course, member taken out of a team, deleted user/team/course)
is stamped like any change; the pair or object then no longer exists in the tenant,
and the removal mode decides at query time whether the delta shows it as a tombstone
(``active_false``) or leaves it out (``silent``). Deciding at query time keeps one
write path for both modes and makes switching modes take effect on the next query.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from litmos_sandbox.litmos.tenant.model import Course, Team, User

REMOVAL_MODES: tuple[str, ...] = ("active_false", "silent")
# Every generated date lies before this instant (the tenant's frozen "today").
HORIZON = datetime(2025, 6, 1, tzinfo=UTC)

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def check_mode(mode: str) -> str:
    if mode not in REMOVAL_MODES:
        raise ValueError(f"delta removal mode must be one of {REMOVAL_MODES}, got {mode!r}")
    return mode


def stamp(at: datetime) -> str:
    """A change time as the delta records spell it: ``2026-01-02T03:04:05.678Z``."""
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def login_stamp(at: datetime) -> str:
    """``LastLogin`` in the form the generated tenant uses (milliseconds, no zone)."""
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}"


class ManualClock:
    """A clock that stands still until told: ``set()`` it or ``advance()`` it. For
    tests and the ``/_sandbox/clock`` control."""

    def __init__(self, start: datetime) -> None:
        self._now = _aware(start)

    def __call__(self) -> datetime:
        return self._now

    def set(self, at: datetime) -> None:
        self._now = _aware(at)

    def advance(self, seconds: float) -> datetime:
        self._now += timedelta(seconds=seconds)
        return self._now


def _aware(at: datetime) -> datetime:
    """A naive datetime is taken as UTC; an aware one is converted to UTC."""
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


class ChangeLog:
    """Change times of the records changed after generation. Owned by the tenant and
    used under its lock."""

    def __init__(self, clock: Clock | None = None, removals: str = "active_false") -> None:
        self.clock: Clock = clock or utc_now
        self.removals = check_mode(removals)
        self.users: dict[int, datetime] = {}
        self.logins: dict[int, datetime] = {}  # logins recorded through the sandbox
        self.teams: dict[int, datetime] = {}
        self.courses: dict[int, datetime] = {}
        # (team, user) -> (CreatedDate of the pair, change time)
        self.team_users: dict[tuple[int, int], tuple[str, datetime]] = {}
        self.assignments: dict[tuple[int, int], datetime] = {}  # (course, user)
        self.results: dict[tuple[int, int], datetime] = {}  # (course, user)
        # Deleted objects, kept so their tombstones (and their pairs') can be rendered.
        self.gone_users: dict[int, User] = {}
        self.gone_teams: dict[int, Team] = {}
        self.gone_courses: dict[int, Course] = {}

    def now(self) -> datetime:
        return _aware(self.clock())

    @property
    def silent(self) -> bool:
        return self.removals == "silent"

    def user(self, user: User, at: datetime, *, gone: bool = False) -> None:
        self.users[user.idx] = at
        if gone:
            self.gone_users[user.idx] = user

    def team(self, team: Team, at: datetime, *, gone: bool = False) -> None:
        self.teams[team.idx] = at
        if gone:
            self.gone_teams[team.idx] = team

    def course(self, course: Course, at: datetime, *, gone: bool = False) -> None:
        self.courses[course.idx] = at
        if gone:
            self.gone_courses[course.idx] = course

    def team_user(self, team: Team, user: User, at: datetime, *, existed: bool) -> None:
        """``existed``: whether the pair (member, leader or admin) existed before this
        write; it keeps the pair's CreatedDate, a new pair is created ``at``."""
        key = (team.idx, user.idx)
        known = self.team_users.get(key)
        if not existed:
            created = stamp(at)
        elif known is not None:
            created = known[0]
        else:  # a generated pair: as old as the younger of its team and user
            created = max(team.created_date, user.created_date)
        self.team_users[key] = (created, at)

    def enrollment(self, c: int, u: int, at: datetime, *, assignment: bool) -> None:
        """A result change (progress, completion); ``assignment``: the assignment
        itself was made or removed too."""
        self.results[(c, u)] = at
        if assignment:
            self.assignments[(c, u)] = at

    def login(self, user: User, at: datetime) -> None:
        self.logins[user.idx] = at
