"""The tenant's storage: indexes, id allocation and per-enrollment state.

Kept lean so the large preset (100k users, 2M enrollments) builds in a few seconds: a
course's enrollees are a sorted ``array('i')`` of user indexes, and the per-enrollment
fields (completion, dates, ...) are derived on read from a hash of (course, user), with
an overlay for enrollments made through the API. The other parts of ``Tenant``
(generation, reads, API rows, writes) build on this class.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING

from litmos_sandbox.litmos.tenant.changes import ChangeLog
from litmos_sandbox.litmos.tenant.derive import DAYS, NOW_DAY, midnight, mix64, opaque_id, stamp_z
from litmos_sandbox.litmos.tenant.model import (
    Course,
    Enrollment,
    EnrollState,
    Team,
    User,
    not_found,
)
from litmos_sandbox.litmos.tenant.spec import TenantSpec

if TYPE_CHECKING:  # learning_paths.py builds on this class: no import circle
    from litmos_sandbox.litmos.tenant.learning_paths import LearningPath


class TenantStore:
    """The state behind ``Tenant`` and the lookups every part of it uses."""

    def __init__(self, spec: TenantSpec) -> None:
        self.spec = spec
        self.lock = threading.RLock()
        self._users: list[User] = []  # live users in creation order
        self._by_idx: list[User | None] = []  # user index -> user (None once deleted)
        self._user_by_id: dict[str, User] = {}
        self._user_by_name: dict[str, User] = {}  # casefolded UserName -> user
        self._teams: list[Team] = []  # live teams in creation order
        self._team_by_idx: list[Team | None] = []
        self._team_by_id: dict[str, Team] = {}
        self._courses: list[Course] = []  # live courses in creation order
        self._course_by_idx: list[Course | None] = []  # course index -> course (None: deleted)
        self._course_by_id: dict[str, Course] = {}
        self._paths: list[LearningPath] = []  # learning paths (learning_paths.py)
        self._overlay: dict[int, EnrollState] = {}  # (course<<32|user) -> state set by API
        self._ids: set[str] = set()
        self._user_views: dict[tuple[str, bool], list[User]] = {}
        self._clock = 0  # seconds past the frozen "now", advanced by each write
        self._next_result_id = 900_000_000
        self.changes = ChangeLog()  # change times for the delta queries (real clock)

    def _new_id(self, kind: str, n: int) -> str:
        attempt = 0
        while True:
            candidate = opaque_id(self.spec.seed, kind, n, attempt)
            if candidate not in self._ids:
                self._ids.add(candidate)
                return candidate
            attempt += 1

    def _add_user(self, user: User) -> None:
        self._users.append(user)
        self._by_idx.append(user)
        self._user_by_id[user.id] = user
        self._user_by_name[user.user_name.casefold()] = user

    def _by_idx_live(self, u: int) -> User:
        user = self._by_idx[u]
        assert user is not None
        return user

    def _live_team(self, t: int) -> Team:
        team = self._team_by_idx[t]
        assert team is not None
        return team

    def _live_course(self, c: int) -> Course:
        course = self._course_by_idx[c]
        assert course is not None
        return course

    def _users_of(self, indexes: Iterable[int]) -> list[User]:
        return [self._by_idx_live(u) for u in indexes]

    def _need_user(self, key: str) -> User:
        user = self._user_by_id.get(key) or self._user_by_name.get(key.casefold())
        if user is None:
            raise not_found("user", key)
        return user

    def _need_team(self, team_id: str) -> Team:
        team = self._team_by_id.get(team_id)
        if team is None:
            raise not_found("team", team_id)
        return team

    def _need_course(self, course_id: str) -> Course:
        course = self._course_by_id.get(course_id)
        if course is None:
            raise not_found("course", course_id)
        return course

    @staticmethod
    def _derive_state(course: Course, u: int) -> EnrollState:
        """The generated state of user index ``u`` in ``course``: a pure function of
        the course's salt and the user index, so both enrollment views agree."""
        h = mix64(course.salt ^ u)
        completed = (h & 0xFFFF) < course.completion
        if completed:
            pct = 100
        else:
            r = (h >> 16) & 0xFF
            pct = 0 if r < 100 else r % 100
        span = max(1, NOW_DAY - course.created_day)
        ad = course.created_day + (h >> 24) % span
        assigned = stamp_z(ad, h >> 11)
        start = stamp_z(ad + ((h >> 52) & 7), h >> 13) if pct else None
        done_day = ad + 1 + ((h >> 40) & 63)
        date_completed = stamp_z(done_day, h >> 17) if completed else None
        compliant = completed and bool((h >> 46) & 1)
        compliant_till = midnight(done_day + 365) if compliant else None
        due = None if ((h >> 47) & 3) == 0 else midnight(ad + 30)
        access_till = stamp_z(ad + 730, 0) if ((h >> 49) & 3) == 0 else ""
        overdue = (not completed) and due is not None and ad + 30 < NOW_DAY
        up_to_date = completed and (not compliant or done_day + 365 >= NOW_DAY)
        result_id = 10_000_000 + (h >> 8) % 880_000_000
        return (completed, pct, assigned, start, date_completed, compliant_till, due,
                access_till, up_to_date, overdue, result_id)

    @staticmethod
    def _assigned_day(course: Course, u: int) -> int:
        """The day ``_derive_state`` assigns user index ``u`` to ``course`` (the same
        bits), so a date-range scan can skip most enrollments without deriving them."""
        h = mix64(course.salt ^ u)
        return course.created_day + (h >> 24) % max(1, NOW_DAY - course.created_day)

    @staticmethod
    def _derive_brief(course: Course, u: int) -> tuple[bool, int, str | None, str | None, str]:
        """The course-user view's subset of ``_derive_state`` (same bits, same
        values), without the timestamps that view does not show: a page of a
        course's users is the hottest read path."""
        h = mix64(course.salt ^ u)
        completed = (h & 0xFFFF) < course.completion
        if completed:
            pct = 100
        else:
            r = (h >> 16) & 0xFF
            pct = 0 if r < 100 else r % 100
        ad = course.created_day + (h >> 24) % max(1, NOW_DAY - course.created_day)
        if completed and (h >> 46) & 1:
            compliant_till: str | None = DAYS[ad + 366 + ((h >> 40) & 63)] + "T00:00:00"
        else:
            compliant_till = None
        due = None if ((h >> 47) & 3) == 0 else DAYS[ad + 30] + "T00:00:00"
        access_till = DAYS[ad + 730] + "T00:00:00Z" if ((h >> 49) & 3) == 0 else ""
        return completed, pct, compliant_till, due, access_till

    def _state(self, course: Course, u: int) -> EnrollState:
        state = self._overlay.get((course.idx << 32) | u)
        return state if state is not None else self._derive_state(course, u)

    def _fresh_state(self) -> EnrollState:
        self._next_result_id += 1
        return (False, 0, self._now(), None, None, None, None, "", False, False,
                self._next_result_id)

    def _now(self) -> str:
        """The tenant clock: frozen "today" plus one second per write, so writes
        stay deterministic too."""
        self._clock += 1
        return stamp_z(NOW_DAY + self._clock // 86400, self._clock)

    def _enrollment(self, course: Course, user: User) -> Enrollment:
        s = self._state(course, user.idx)
        return Enrollment(course.id, user.id, s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7],
                          s[8], s[9], s[10])

    @staticmethod
    def _is_enrolled(course: Course, u: int) -> bool:
        arr = course.enrollees
        i = bisect.bisect_left(arr, u)
        return i < len(arr) and arr[i] == u

    def _user_view(self, search: str, active_only: bool) -> list[User]:
        if not search and not active_only:
            return self._users
        key = (search, active_only)
        view = self._user_views.get(key)
        if view is None:
            needle = search.casefold()
            view = [u for u in self._users
                    if (u.active or not active_only) and needle in u.search_text()]
            if len(self._user_views) > 16:
                self._user_views.clear()
            self._user_views[key] = view
        return view

    def _changed_users(self) -> None:
        self._user_views.clear()
