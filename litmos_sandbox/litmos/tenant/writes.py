"""Changing the tenant, as the API's write endpoints do: users and enrollments
(teams: ``team_writes.py``).

Every write checks its ids before it changes anything, and answers a refusal with a
``TenantError`` carrying the HTTP status the server sends.
"""

from __future__ import annotations

import bisect
from array import array
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from litmos_sandbox.litmos.tenant.changes import login_stamp
from litmos_sandbox.litmos.tenant.fields import ACCESS_LEVELS, ACCESS_RANK, USER_FIELDS
from litmos_sandbox.litmos.tenant.model import Course, Enrollment, TenantError, User
from litmos_sandbox.litmos.tenant.names import BRANDS
from litmos_sandbox.litmos.tenant.store import TenantStore

# Writable user fields (API spelling -> how to coerce the text/JSON value)
_BOOL_FIELDS = {"Active", "DisableMessages", "IsCustomUsername", "SkipFirstLogin"}
_INT_FIELDS = {"OriginalId", "Points"}
_READ_ONLY_USER_FIELDS = {"Id", "FullName", "CreatedDate", "LastLogin", "LoginKey"}


def _as_bool(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1"):
        return True
    if text in ("false", "0", ""):
        return False
    raise TenantError(400, f"field {name} must be true or false, got {value!r}")


def _as_int(value: Any, name: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise TenantError(400, f"field {name} must be an integer, got {value!r}") from None


def as_text(value: Any) -> str:
    return "" if value is None else str(value)


def _check_access_level(level: str) -> None:
    if level not in ACCESS_RANK:
        raise TenantError(400, f"field AccessLevel must be one of {ACCESS_LEVELS}, got {level!r}")


class WritesMixin(TenantStore):
    """The write methods the server's write endpoints call."""

    def create_user(self, values: Mapping[str, Any]) -> User:
        with self.lock:
            user_name = as_text(values.get("UserName")).strip()
            if not user_name:
                raise TenantError(400, "field UserName is required")
            if user_name.casefold() in self._user_by_name:
                raise TenantError(400, f"UserName {user_name!r} already exists")
            idx = len(self._by_idx)
            level = as_text(values.get("AccessLevel")) or "Learner"
            _check_access_level(level)
            active = _as_bool(values["Active"], "Active") if "Active" in values else True
            user = User(
                idx=idx, id=self._new_id("user", idx), user_name=user_name,
                first_name=as_text(values.get("FirstName")),
                last_name=as_text(values.get("LastName")),
                email=as_text(values.get("Email")), active=active, access_level=level,
                brand=as_text(values.get("Brand")) or BRANDS[0][0],
                created_date=self._now(), last_login="",
                is_custom_username="@" not in user_name,
            )
            self._apply_extra(user, values)
            self._add_user(user)
            self._changed_users()
            self.changes.user(user, self.changes.now())
            return user

    def update_user(self, user_key: str, values: Mapping[str, Any]) -> User:
        with self.lock:
            user = self._need_user(user_key)
            body_id = values.get("Id")
            if body_id not in (None, "", user.id):
                raise TenantError(400, f"body Id {body_id!r} does not match the path id")
            was_active = user.active
            try:
                self._apply_user_fields(user, values)
            finally:
                # A bad field is refused after the ones before it were applied: the
                # record changed all the same, its views and change time must follow.
                user._search = None
                self._changed_users()
                at = self.changes.now()
                self.changes.user(user, at)
                if user.active != was_active:
                    # The team member lists show active users only: each membership's
                    # delta record (Active) changes with the user.
                    for t in user.teams:
                        self.changes.team_user(self._live_team(t), user, at, existed=True)
            return user

    def _apply_user_fields(self, user: User, values: Mapping[str, Any]) -> None:
        if "UserName" in values:
            new_name = as_text(values["UserName"]).strip()
            if not new_name:
                raise TenantError(400, "field UserName must not be empty")
            other = self._user_by_name.get(new_name.casefold())
            if other is not None and other is not user:
                raise TenantError(400, f"UserName {new_name!r} already exists")
            del self._user_by_name[user.user_name.casefold()]
            user.user_name = new_name
            self._user_by_name[new_name.casefold()] = user
        for api, attr in (("FirstName", "first_name"), ("LastName", "last_name"),
                          ("Email", "email"), ("Brand", "brand")):
            if api in values:
                setattr(user, attr, as_text(values[api]))
        if "AccessLevel" in values:
            level = as_text(values["AccessLevel"])
            _check_access_level(level)
            user.access_level = level
        if "Active" in values:
            user.active = _as_bool(values["Active"], "Active")
        if "IsCustomUsername" in values:
            user.is_custom_username = _as_bool(values["IsCustomUsername"], "IsCustomUsername")
        self._apply_extra(user, values)

    @staticmethod
    def _apply_extra(user: User, values: Mapping[str, Any]) -> None:
        core = {"UserName", "FirstName", "LastName", "Email", "Brand", "AccessLevel", "Active",
                "IsCustomUsername"}
        for name, value in values.items():
            if name in core or name in _READ_ONLY_USER_FIELDS or name not in USER_FIELDS:
                continue
            if name in _BOOL_FIELDS:
                value = _as_bool(value, name)
            elif name in _INT_FIELDS:
                value = _as_int(value, name)
            elif name == "Password":
                continue  # write-only: the API answers it empty
            else:
                value = None if value is None else str(value)
            if user.extra is None:
                user.extra = {}
            user.extra[name] = value

    def delete_user(self, user_key: str) -> None:
        with self.lock:
            user = self._need_user(user_key)
            u = user.idx
            at = self.changes.now()
            for course in self._courses:
                self._remove_enrollee(course, u, at)
            for team in self._teams:
                if u in team.members or u in team.leaders or u in team.admins:
                    self.changes.team_user(team, user, at, existed=True)
            for t in user.teams:
                team = self._live_team(t)
                team.members.remove(u)
            for team in self._teams:
                if u in team.leaders:
                    team.leaders.remove(u)
                if u in team.admins:
                    team.admins.remove(u)
            self.changes.user(user, at, gone=True)
            self._users.remove(user)
            self._by_idx[u] = None
            del self._user_by_id[user.id]
            del self._user_by_name[user.user_name.casefold()]
            self._changed_users()

    def assign_courses(self, user_key: str, course_ids: Iterable[str]) -> list[str]:
        """Assigns courses; already-assigned ones are left as they are. All ids are
        checked before anything changes. Returns the ids newly assigned."""
        with self.lock:
            user = self._need_user(user_key)
            courses = [self._need_course(cid) for cid in course_ids]
            at = self.changes.now()
            return [c.id for c in courses if self._add_enrollee(c, user.idx, at)]

    def unassign_course(self, user_key: str, course_id: str) -> None:
        with self.lock:
            user = self._need_user(user_key)
            course = self._need_course(course_id)
            if not self._remove_enrollee(course, user.idx, self.changes.now()):
                raise TenantError(404, f"user {user_key!r} is not assigned course {course_id!r}")

    def _add_enrollee(self, course: Course, u: int, at: datetime) -> bool:
        arr = course.enrollees
        i = bisect.bisect_left(arr, u)
        if i < len(arr) and arr[i] == u:
            return False
        arr.insert(i, u)
        self._overlay[(course.idx << 32) | u] = self._fresh_state()
        self.changes.enrollment(course.idx, u, at, assignment=True)
        return True

    def _remove_enrollee(self, course: Course, u: int, at: datetime) -> bool:
        arr = course.enrollees
        i = bisect.bisect_left(arr, u)
        if i < len(arr) and arr[i] == u:
            del arr[i]
            self._overlay.pop((course.idx << 32) | u, None)
            self.changes.enrollment(course.idx, u, at, assignment=True)
            return True
        return False

    def set_progress(self, user_key: str, course_id: str, percentage: int) -> Enrollment:
        """Test hook (no API endpoint): move an enrollment's progress; 100 completes it."""
        with self.lock:
            user = self._need_user(user_key)
            course = self._need_course(course_id)
            if not self._is_enrolled(course, user.idx):
                raise TenantError(404, f"user {user_key!r} is not assigned course {course_id!r}")
            s = list(self._state(course, user.idx))
            pct = max(0, min(100, int(percentage)))
            s[0], s[1] = pct == 100, pct
            s[4] = self._now() if pct == 100 else None
            s[8] = pct == 100
            self._overlay[(course.idx << 32) | user.idx] = tuple(s)  # type: ignore[assignment]
            self.changes.enrollment(course.idx, user.idx, self.changes.now(), assignment=False)
            return self._enrollment(course, user)

    def delete_course(self, course_id: str) -> None:
        """Deletes a course with its enrollments and team assignments. Litmos' API has
        no such call; the sandbox uses it for a course that vanishes (``app.py``)."""
        with self.lock:
            course = self._need_course(course_id)
            at = self.changes.now()
            c = course.idx
            for u in course.enrollees:
                self._overlay.pop((c << 32) | u, None)
                self.changes.enrollment(c, u, at, assignment=True)
            course.enrollees = array("i")
            for team in self._teams:
                if c in team.courses:
                    team.courses.remove(c)
            self._courses.remove(course)
            self._course_by_idx[c] = None
            del self._course_by_id[course.id]
            self.changes.course(course, at, gone=True)

    def record_login(self, user_key: str) -> str:
        """Sandbox hook (no API endpoint): the user signs in now; returns the new
        ``LastLogin``. A login is not a change of the user record (``UpdatedDate``
        stays): ``/org/users/logins`` reports it."""
        with self.lock:
            user = self._need_user(user_key)
            at = self.changes.now()
            user.last_login = login_stamp(at)
            self.changes.login(user, at)
            return user.last_login
