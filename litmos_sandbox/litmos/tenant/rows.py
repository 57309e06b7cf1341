"""The tenant as the API shows it: rows aligned with the field lists, and pages with
start/limit/search applied under the lock (what the server renders)."""

from __future__ import annotations

from typing import Any

from litmos_sandbox.litmos.tenant.derive import M64, derive_seed, mix64, opaque_id
from litmos_sandbox.litmos.tenant.fields import USER_FIELDS, Row
from litmos_sandbox.litmos.tenant.model import Course, Team, TenantError, User
from litmos_sandbox.litmos.tenant.names import CULTURES, JOB_TITLES, PLACES, TIMEZONES
from litmos_sandbox.litmos.tenant.store import TenantStore


class RowsMixin(TenantStore):
    """API rows and pages for the server."""

    @staticmethod
    def user_list_row(user: User) -> Row:
        return (user.id, user.user_name, user.first_name, user.last_name, user.active,
                user.email, user.access_level, user.brand)

    @staticmethod
    def member_row(user: User) -> Row:
        return (user.id, user.user_name, user.first_name, user.last_name)

    def team_row(self, team: Team) -> Row:
        parent = "" if team.parent < 0 else self._live_team(team.parent).id
        return (team.id, team.name, team.code, parent, team.description)

    @staticmethod
    def course_row(course: Course) -> Row:
        return (course.id, course.code, course.name, course.active, course.for_sale,
                course.original_id, course.description, course.short_description,
                course.long_description, course.bulk_code, course.price,
                course.access_till_date, course.access_till_days, course.team_library,
                course.created_by, course.seq_id)

    def user_detail_row(self, user: User) -> Row:
        values = _derived_user_details(self.spec.seed, user)
        if user.extra:
            values.update(user.extra)
        return tuple(values[f] for f in USER_FIELDS)

    def course_user_row(self, course: Course, user: User) -> Row:
        s = self._overlay.get((course.idx << 32) | user.idx)
        if s is None:
            b = self._derive_brief(course, user.idx)
            return (user.id, user.user_name, user.first_name, user.last_name, *b)
        return (user.id, user.user_name, user.first_name, user.last_name, s[0], s[1], s[5],
                s[6], s[7])

    def user_course_row(self, course: Course, user: User) -> Row:
        s = self._state(course, user.idx)
        return (course.id, course.code, course.name, course.active, s[0], s[1], s[2], s[3],
                s[4], s[8], s[9], s[5], False, course.created_date, course.created_by,
                course.original_id, s[10], s[7])

    @staticmethod
    def module_rows(course: Course) -> list[Row]:
        rows = []
        for m in range(course.modules):
            mid = opaque_id(course.salt, "module", m)
            rows.append((mid, f"{course.code}-M{m + 1}", f"{course.name} – part {m + 1}", "",
                         True))
        return rows

    @staticmethod
    def record(fields_: tuple[str, ...], row: Row) -> dict[str, Any]:
        """A row as the API's JSON object."""
        return dict(zip(fields_, row, strict=True))

    def page_users(self, start: int, limit: int, search: str = "",
                   active_only: bool = False) -> tuple[list[Row], int]:
        """One page of the user list and the total the filter matches."""
        with self.lock:
            view = self._user_view(search, active_only)
            return [self.user_list_row(u) for u in view[start:start + limit]], len(view)

    def page_teams(self, start: int, limit: int, search: str = "") -> list[Row]:
        with self.lock:
            teams = self._teams
            if search:
                needle = search.casefold()
                teams = [t for t in teams if needle in t.name.casefold()]
            return [self.team_row(t) for t in teams[start:start + limit]]

    def page_sub_teams(self, team_id: str, start: int, limit: int, search: str = "") -> list[Row]:
        with self.lock:
            teams = [self._live_team(t) for t in self._need_team(team_id).children]
            return [self.team_row(t) for t in _search_teams(teams, search)[start:start + limit]]

    def page_courses(self, start: int, limit: int, search: str = "") -> list[Row]:
        with self.lock:
            courses = self._courses
            if search:
                needle = search.casefold()
                courses = [c for c in courses
                           if needle in c.name.casefold() or needle in c.code.casefold()]
            return [self.course_row(c) for c in courses[start:start + limit]]

    def page_team_people(self, team_id: str, role: str, start: int, limit: int,
                         search: str = "") -> list[Row]:
        """``role``: "users" (active members), "leaders" or "admins"."""
        with self.lock:
            team = self._need_team(team_id)
            indexes = {"users": team.members, "leaders": team.leaders, "admins": team.admins}[role]
            users = self._users_of(indexes)
            if role == "users":
                users = [u for u in users if u.active]
            users = _search_users(users, search)
            return [self.member_row(u) for u in users[start:start + limit]]

    def page_team_courses(self, team_id: str, start: int, limit: int) -> list[Row]:
        with self.lock:
            team = self._need_team(team_id)
            return [self.course_row(self._live_course(c))
                    for c in team.courses[start:start + limit]]

    def page_user_teams(self, user_key: str, start: int, limit: int) -> list[Row]:
        with self.lock:
            user = self._need_user(user_key)
            return [self.team_row(self._live_team(t)) for t in user.teams[start:start + limit]]

    def page_course_users(self, course_id: str, start: int, limit: int,
                          search: str = "") -> list[Row]:
        with self.lock:
            course = self._need_course(course_id)
            by_idx = self._by_idx
            if search:
                needle = search.casefold()
                users = [u for u in map(by_idx.__getitem__, course.enrollees)
                         if u is not None and needle in u.search_text()][start:start + limit]
            else:
                users = [by_idx[u] for u in course.enrollees[start:start + limit]]
            return [self.course_user_row(course, u) for u in users if u is not None]

    def page_user_courses(self, user_key: str, start: int, limit: int,
                          search: str = "") -> list[Row]:
        with self.lock:
            user = self._need_user(user_key)
            courses = [c for c in self._courses if self._is_enrolled(c, user.idx)]
            if search:
                needle = search.casefold()
                courses = [c for c in courses
                           if needle in c.name.casefold() or needle in c.code.casefold()]
            return [self.user_course_row(c, user) for c in courses[start:start + limit]]

    def user_course(self, user_key: str, course_id: str) -> Row:
        with self.lock:
            user = self._need_user(user_key)
            course = self._need_course(course_id)
            if not self._is_enrolled(course, user.idx):
                raise TenantError(404, f"user {user_key!r} is not assigned course {course_id!r}")
            return self.user_course_row(course, user)

    def user_detail(self, user_key: str) -> Row:
        with self.lock:
            return self.user_detail_row(self._need_user(user_key))

    def team_detail(self, team_id: str) -> Row:
        with self.lock:
            return self.team_row(self._need_team(team_id))

    def course_detail(self, course_id: str) -> Row:
        with self.lock:
            return self.course_row(self._need_course(course_id))

    def course_modules(self, course_id: str) -> list[Row]:
        with self.lock:
            return self.module_rows(self._need_course(course_id))


def _search_users(users: list[User], search: str) -> list[User]:
    if not search:
        return users
    needle = search.casefold()
    return [u for u in users if needle in u.search_text()]


def _search_teams(teams: list[Team], search: str) -> list[Team]:
    if not search:
        return teams
    needle = search.casefold()
    return [t for t in teams if needle in t.name.casefold()]


def original_user_id(user: User) -> Any:
    """``OriginalId`` as the single-user record shows it (the API may have set it)."""
    if user.extra and "OriginalId" in user.extra:
        return user.extra["OriginalId"]
    return _ORIGINAL_USER_BASE + user.idx


_ORIGINAL_USER_BASE = 1_000_000


def _derived_user_details(seed: int, user: User) -> dict[str, Any]:
    """The detail fields not stored on the user, derived from a hash of its index."""
    h = mix64(derive_seed(seed, "user-detail") ^ user.idx)
    city, state, postal, country = PLACES[h % len(PLACES)]
    h2 = h >> 8
    details: dict[str, Any] = {
        "Id": user.id,
        "UserName": user.user_name,
        "FirstName": user.first_name,
        "LastName": user.last_name,
        "FullName": user.full_name,
        "Email": user.email,
        "AccessLevel": user.access_level,
        "DisableMessages": (h2 & 15) == 0,
        "Active": user.active,
        "Skype": "",
        "PhoneWork": f"+1-555-{(h2 >> 4) % 10000:04d}" if (h2 >> 20) & 1 else "",
        "PhoneMobile": "",
        "LastLogin": user.last_login,
        "LoginKey": f"https://sandbox.litmos.example/login.aspx?loginkey={(h >> 3) & M64:016x}",
        "IsCustomUsername": user.is_custom_username,
        "Password": "",
        "SkipFirstLogin": False,
        "TimeZone": TIMEZONES[(h2 >> 24) % len(TIMEZONES)],
        "SalesforceId": None,
        "OriginalId": _ORIGINAL_USER_BASE + user.idx,
        "Street1": f"{(h2 >> 28) % 900 + 1} Main Street" if (h2 >> 38) & 1 else "",
        "Street2": "",
        "City": city,
        "State": state,
        "PostalCode": postal,
        "Country": country,
        "CompanyName": user.brand,
        "JobTitle": JOB_TITLES[(h2 >> 40) % len(JOB_TITLES)],
        "Culture": CULTURES[(h2 >> 44) % len(CULTURES)],
        "Brand": user.brand,
        "SalesforceContactId": None,
        "SalesforceAccountId": None,
        "CreatedDate": user.created_date,
        "Points": (h2 >> 48) % 5000,
    }
    for i in range(1, 11):
        details[f"CustomField{i}"] = ""
    return details
