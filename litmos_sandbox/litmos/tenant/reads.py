"""Reading the tenant as objects: lookups, memberships, enrollments and the summary
(what tests compare the pipeline's output with)."""

from __future__ import annotations

from collections.abc import Iterator

from litmos_sandbox.litmos.tenant.model import Course, Enrollment, Team, User
from litmos_sandbox.litmos.tenant.store import TenantStore


class ReadsMixin(TenantStore):
    """Public lookups and iteration; all take the lock."""

    def user(self, key: str) -> User | None:
        """A user by Id, or by UserName (the API accepts either in the path)."""
        with self.lock:
            return self._user_by_id.get(key) or self._user_by_name.get(key.casefold())

    def team(self, team_id: str) -> Team | None:
        with self.lock:
            return self._team_by_id.get(team_id)

    def course(self, course_id: str) -> Course | None:
        with self.lock:
            return self._course_by_id.get(course_id)

    def users(self, *, active_only: bool = False) -> list[User]:
        with self.lock:
            return [u for u in self._users if u.active or not active_only]

    def teams(self) -> list[Team]:
        with self.lock:
            return list(self._teams)

    def courses(self) -> list[Course]:
        with self.lock:
            return list(self._courses)

    def team_members(self, team_id: str, *, active_only: bool = False) -> list[User]:
        """Members in insertion order; the API's member list is ``active_only``."""
        with self.lock:
            users = self._users_of(self._need_team(team_id).members)
            return [u for u in users if u.active or not active_only]

    def team_leaders(self, team_id: str) -> list[User]:
        with self.lock:
            return self._users_of(self._need_team(team_id).leaders)

    def team_admins(self, team_id: str) -> list[User]:
        with self.lock:
            return self._users_of(self._need_team(team_id).admins)

    def sub_teams(self, team_id: str) -> list[Team]:
        with self.lock:
            return [self._live_team(t) for t in self._need_team(team_id).children]

    def parent_team(self, team_id: str) -> Team | None:
        with self.lock:
            team = self._need_team(team_id)
            return None if team.parent < 0 else self._live_team(team.parent)

    def team_courses(self, team_id: str) -> list[Course]:
        with self.lock:
            return [self._live_course(c) for c in self._need_team(team_id).courses]

    def user_teams(self, user_key: str) -> list[Team]:
        with self.lock:
            return [self._live_team(t) for t in self._need_user(user_key).teams]

    def course_enrollments(self, course_id: str) -> list[Enrollment]:
        """Every enrollment of a course, in the order the API lists them."""
        with self.lock:
            course = self._need_course(course_id)
            return [self._enrollment(course, self._by_idx_live(u)) for u in course.enrollees]

    def course_enrollee_count(self, course_id: str) -> int:
        with self.lock:
            return len(self._need_course(course_id).enrollees)

    def user_enrollments(self, user_key: str) -> list[Enrollment]:
        with self.lock:
            user = self._need_user(user_key)
            return [self._enrollment(c, user) for c in self._courses
                    if self._is_enrolled(c, user.idx)]

    def enrollment(self, user_key: str, course_id: str) -> Enrollment | None:
        with self.lock:
            user = self._need_user(user_key)
            course = self._need_course(course_id)
            return self._enrollment(course, user) if self._is_enrolled(course, user.idx) else None

    def iter_enrollments(self) -> Iterator[Enrollment]:
        """All enrollments, course by course (a snapshot per course)."""
        for course in self.courses():
            yield from self.course_enrollments(course.id)

    def total_enrollments(self) -> int:
        with self.lock:
            return sum(len(c.enrollees) for c in self._courses)

    def summary(self) -> dict[str, int]:
        with self.lock:
            sizes = [len(c.enrollees) for c in self._courses]
            return {
                "users": len(self._users),
                "active_users": sum(1 for u in self._users if u.active),
                "teams": len(self._teams),
                "top_level_teams": sum(1 for t in self._teams if t.parent < 0),
                "team_memberships": sum(len(t.members) for t in self._teams),
                "courses": len(self._courses),
                "enrollments": sum(sizes),
                "max_course_enrollees": max(sizes, default=0),
                "courses_with_50k_plus": sum(1 for s in sizes if s >= 50_000),
            }
