"""The delta (date-range) queries: what changed in ``[since, to)``, as Litmos' ``/org/...``
endpoints answer it, from the change log (``changes.py``) and the tenant's state now.

A record is in the window when ``since <= change time < to``. Records changed after
generation come from the change log (a dict scan: what changed, not what exists). A
generated record's change time is its creation date (user, team, course: CreatedDate;
enrollment: AssignedDate; team pair: the younger of its team's and user's CreatedDate),
all before ``HORIZON``: only a window reaching back before it scans the generated
records (slow on the large preset's 2M enrollments: seconds per page).

Every record gives the state *now* (so a consumer applying the delta gets what a new
full list would show). The rules, per kind:

- users: the single-user record plus ``UpdatedDate``. A deleted user is a tombstone
  with ``Active=false`` (indistinguishable from a deactivation). A login does not
  change ``UpdatedDate``: ``logins`` lists users whose ``LastLogin`` is in the window.
- team_users: one record per (team, user) pair. The pair exists while the user is a
  member, a leader or an admin of the team: the sandbox keeps these as three lists, and
  a leader or admin need not be a member. ``Active``: listed by ``/teams/{id}/users``
  now, i.e. a member *and* an active user (that list omits inactive users, so a
  (de)activation changes each of the user's memberships); ``IsTeamLeader`` /
  ``IsTeamAdmin``: listed by ``/teams/{id}/leaders`` / ``admins`` now. A member removed
  while keeping a role is ``Active=false`` with that role still true. A pair that no
  longer exists (all three gone, its team or user deleted) is all false.
- user_courses / results: one record per (course, user). ``Active``: the enrollment
  exists now. A result's values are those ``GET /courses/{id}/users`` serves
  (CompliantTill -> CompliantTillDate); a removed one has no progress and no dates.
- teams / courses: the list fields plus dates; a deleted one keeps its last values with
  ``Active=false`` (for a course, like an inactive course: its enrollments' tombstones
  tell them apart).

``CreatedDate`` is what the full lists show: for a record created through the API, the
tenant's deterministic write clock (2025-06-01 plus a second per write); a team pair,
which no list dates, is created at its change time. ``UpdatedDate`` is the change time,
from the real (or injected) clock.

A pair or object that no longer exists is a tombstone in removal mode ``active_false``
and left out in mode ``silent``; ``CreatedDate`` of a removed pair is nil. Order: by
change time, then ids, so pages are stable while nothing changes.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from litmos_sandbox.litmos.tenant.changes import HORIZON, check_mode, stamp, utc_now
from litmos_sandbox.litmos.tenant.derive import day_number
from litmos_sandbox.litmos.tenant.fields import DELTA_FIELDS, USER_FIELDS, Row
from litmos_sandbox.litmos.tenant.model import Course, Team, User
from litmos_sandbox.litmos.tenant.rows import RowsMixin, original_user_id

# (change time, ids to order by, what the renderer needs)
_Hit = tuple[datetime, tuple[str, ...], Any]
_ACTIVE_AT = USER_FIELDS.index("Active")
_COURSE_ACTIVE_AT = 3  # COURSE_FIELDS: Id, Code, Name, Active, ...


def _parse(text: str) -> datetime:
    at = datetime.fromisoformat(text)
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at


class _Window:
    """``[since, to)``, with the day bounds a scan of generated date strings uses to
    skip most records before parsing one."""

    def __init__(self, since: datetime, to: datetime) -> None:
        self.since, self.to = _utc(since), _utc(to)
        self.first_day = self.since.strftime("%Y-%m-%d")
        self.last_day = self.to.strftime("%Y-%m-%d")
        self.generated = self.since < HORIZON  # generated records may fall inside

    def __contains__(self, at: datetime) -> bool:
        return self.since <= at < self.to

    def match(self, text: str) -> datetime | None:
        """A generated date string's instant if it falls inside the window."""
        if not text or not self.first_day <= text[:10] <= self.last_day:
            return None
        at = _parse(text)
        return at if at in self else None


def _utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


class HistoryMixin(RowsMixin):
    """``delta_page()``: one page of a delta query; the removal mode and the clock."""

    @property
    def delta_removals(self) -> str:
        return self.changes.removals

    def set_delta_removals(self, mode: str) -> None:
        """``active_false``: a removed record is reported with ``Active=false``;
        ``silent``: it is not reported (Litmos does not document either)."""
        with self.lock:
            self.changes.removals = check_mode(mode)

    def set_clock(self, clock: Callable[[], datetime] | None) -> None:
        """The clock that stamps changes (None: the real UTC time)."""
        with self.lock:
            self.changes.clock = clock or utc_now

    def delta_page(self, kind: str, since: datetime, to: datetime, start: int = 0,
                   limit: int = 1000) -> list[Row]:
        """Rows (aligned with ``DELTA_FIELDS[kind]``) of the records of ``kind`` that
        changed in ``[since, to)``, ordered, ``start``/``limit`` applied."""
        if kind not in DELTA_FIELDS:
            raise ValueError(f"unknown delta kind {kind!r}; expected one of "
                             f"{sorted(DELTA_FIELDS)}")
        window = _Window(since, to)
        with self.lock:
            hits, render = _KINDS[kind](self, window)
            hits.sort(key=lambda h: (h[0], h[1]))
            return [render(self, h) for h in hits[start:start + limit]]

    # -- lookups across live and deleted objects --------------------------------------

    def _any_user(self, u: int) -> User | None:
        """None: deleted and the mode is silent."""
        user = self._by_idx[u]
        if user is None and not self.changes.silent:
            user = self.changes.gone_users[u]
        return user

    def _any_team(self, t: int) -> Team | None:
        team = self._team_by_idx[t]
        if team is None and not self.changes.silent:
            team = self.changes.gone_teams[t]
        return team

    def _any_course(self, c: int) -> Course | None:
        course = self._course_by_idx[c]
        if course is None and not self.changes.silent:
            course = self.changes.gone_courses[c]
        return course

    # -- users and logins ---------------------------------------------------------------

    def _user_hits(self, w: _Window) -> list[_Hit]:
        hits = [(at, (user.id,), user) for u, at in self.changes.users.items()
                if at in w and (user := self._any_user(u)) is not None]
        if w.generated:
            changed = self.changes.users
            for user in self._users:
                if user.idx not in changed and (at := w.match(user.created_date)):
                    hits.append((at, (user.id,), user))
        return hits

    def _login_hits(self, w: _Window) -> list[_Hit]:
        # A deleted user's logins went with it, in either mode.
        hits = [(at, (user.id,), user) for u, at in self.changes.logins.items()
                if at in w and (user := self._by_idx[u]) is not None]
        if w.generated:
            recorded = self.changes.logins
            for user in self._users:
                if user.idx not in recorded and (at := w.match(user.last_login)):
                    hits.append((at, (user.id,), user))
        return hits

    def _user_row(self, hit: _Hit) -> Row:
        user: User = hit[2]
        row = list(self.user_detail_row(user))
        if self._by_idx[user.idx] is None:
            row[_ACTIVE_AT] = False
        at = self.changes.users.get(user.idx)
        return (*row, user.created_date if at is None else stamp(at))

    # -- teams and team pairs -------------------------------------------------------------

    def _team_hits(self, w: _Window) -> list[_Hit]:
        hits = [(at, (team.id,), team) for t, at in self.changes.teams.items()
                if at in w and (team := self._any_team(t)) is not None]
        if w.generated:
            changed = self.changes.teams
            for team in self._teams:
                if team.idx not in changed and (at := w.match(team.created_date)):
                    hits.append((at, (team.id,), team))
        return hits

    def _team_row(self, hit: _Hit) -> Row:
        team: Team = hit[2]
        live = self._team_by_idx[team.idx] is not None
        parent_id = ""
        if team.parent >= 0:  # a live team's parent is live; a deleted one's may be gone
            parent = self._team_by_idx[team.parent] or self.changes.gone_teams[team.parent]
            parent_id = parent.id
        at = self.changes.teams.get(team.idx)
        return (team.id, team.name, team.original_id, live, parent_id, team.code,
                team.created_date, team.created_date if at is None else stamp(at))

    def _team_user_hits(self, w: _Window) -> list[_Hit]:
        hits: list[_Hit] = []
        for (t, u), (created, at) in self.changes.team_users.items():
            if at not in w:
                continue
            team, user = self._any_team(t), self._any_user(u)
            if team is None or user is None:
                continue
            if not self.changes.silent or self._pair_exists(team, user):
                hits.append((at, (team.id, user.id), (team, user, created, at)))
        if w.generated:
            changed = self.changes.team_users
            for team in self._teams:
                for u in dict.fromkeys([*team.members, *team.leaders, *team.admins]):
                    if (team.idx, u) in changed:
                        continue
                    user = self._by_idx_live(u)
                    created = max(team.created_date, user.created_date)
                    if at := w.match(created):
                        hits.append((at, (team.id, user.id), (team, user, created, None)))
        return hits

    def _pair_exists(self, team: Team, user: User) -> bool:
        if self._team_by_idx[team.idx] is None or self._by_idx[user.idx] is None:
            return False
        u = user.idx
        return u in team.members or u in team.leaders or u in team.admins

    def _team_user_row(self, hit: _Hit) -> Row:
        team, user, created, at = hit[2]
        exists = self._pair_exists(team, user)
        u = user.idx
        member = exists and u in team.members and user.active
        return (team.id, user.id, team.original_id, original_user_id(user), member,
                exists and u in team.leaders, exists and u in team.admins,
                created if exists else None, created if at is None else stamp(at))

    # -- courses and enrollments ----------------------------------------------------------

    def _course_hits(self, w: _Window) -> list[_Hit]:
        hits = [(at, (course.id,), course) for c, at in self.changes.courses.items()
                if at in w and (course := self._any_course(c)) is not None]
        if w.generated:
            changed = self.changes.courses
            for course in self._courses:
                if course.idx not in changed and (at := w.match(course.created_date)):
                    hits.append((at, (course.id,), course))
        return hits

    def _course_row(self, hit: _Hit) -> Row:
        course: Course = hit[2]
        row = list(self.course_row(course))
        if self._course_by_idx[course.idx] is None:
            row[_COURSE_ACTIVE_AT] = False
        at = self.changes.courses.get(course.idx)
        return (*row, course.created_date,
                course.created_date if at is None else stamp(at))

    def _enrollment_hits(self, w: _Window, log: dict[tuple[int, int], datetime]) -> list[_Hit]:
        hits: list[_Hit] = []
        for (c, u), at in log.items():
            if at not in w:
                continue
            course, user = self._any_course(c), self._any_user(u)
            if course is None or user is None:
                continue
            if self._enrolled_now(course, user) or not self.changes.silent:
                hits.append((at, (course.id, user.id), (course, user, at)))
        if not w.generated:
            return hits
        first, last = day_number(w.since.date()), day_number(w.to.date())
        by_idx = self._by_idx
        for course in self._courses:
            if course.created_day > last:
                continue  # assigned no earlier than the course was created
            c = course.idx
            for u in course.enrollees:
                if not first <= self._assigned_day(course, u) <= last or (c, u) in log:
                    continue
                if at := w.match(self._state(course, u)[2]):
                    user = by_idx[u]
                    assert user is not None
                    hits.append((at, (course.id, user.id), (course, user, None)))
        return hits

    def _enrolled_now(self, course: Course, user: User) -> bool:
        return (self._course_by_idx[course.idx] is not None
                and self._by_idx[user.idx] is not None
                and self._is_enrolled(course, user.idx))

    def _user_course_row(self, hit: _Hit) -> Row:
        course, user, at = hit[2]
        assigned = self._state(course, user.idx)[2] if self._enrolled_now(course, user) \
            else None
        return (user.id, course.id, original_user_id(user), course.original_id,
                assigned is not None, assigned, assigned if at is None else stamp(at))

    def _result_row(self, hit: _Hit) -> Row:
        course, user, at = hit[2]
        head = (course.id, user.id, user.user_name, course.original_id, course.name,
                course.code)
        if not self._enrolled_now(course, user):
            return (*head, False, False, 0, None, None, False, False, None, None, None, None,
                    stamp(at))
        s = self._state(course, user.idx)
        return (*head, True, s[0], s[1], s[3], s[4], s[8], s[9], s[5], s[6], s[7], s[2],
                s[2] if at is None else stamp(at))


_Render = Callable[[HistoryMixin, _Hit], Row]
_KINDS: dict[str, Callable[[HistoryMixin, _Window], tuple[list[_Hit], _Render]]] = {
    "users": lambda t, w: (t._user_hits(w), HistoryMixin._user_row),
    "logins": lambda t, w: (t._login_hits(w), HistoryMixin._user_row),
    "teams": lambda t, w: (t._team_hits(w), HistoryMixin._team_row),
    "team_users": lambda t, w: (t._team_user_hits(w), HistoryMixin._team_user_row),
    "courses": lambda t, w: (t._course_hits(w), HistoryMixin._course_row),
    "user_courses": lambda t, w: (t._enrollment_hits(w, t.changes.assignments),
                                  HistoryMixin._user_course_row),
    "results": lambda t, w: (t._enrollment_hits(w, t.changes.results),
                             HistoryMixin._result_row),
}
