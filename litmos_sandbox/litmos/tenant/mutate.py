"""Random changes to the tenant, through the same write methods the REST writes call (so
change times and tombstones follow): what a refresh between full syncs has to catch.

Deterministic: the same tenant state and seed apply the same changes. Each kind of
change picks its records independently; a record changed by one kind in a call is not
picked again by another (no deactivate-then-reactivate, no assign-then-unassign), so
the counts mean what they say. Fewer than asked are applied when the tenant runs out
of candidates.
"""

from __future__ import annotations

import bisect
import itertools
import random
from collections.abc import Callable
from typing import Any

from litmos_sandbox.litmos.tenant.derive import derive_seed
from litmos_sandbox.litmos.tenant.model import Course, Team, User
from litmos_sandbox.litmos.tenant.team_writes import TeamWritesMixin

MUTATIONS: tuple[str, ...] = (
    "deactivate_users", "reactivate_users", "assign_courses", "unassign_courses",
    "complete_courses", "add_team_members", "remove_team_members", "grant_team_roles",
    "revoke_team_roles",
)
_ROLES = ("leaders", "admins")


class _Picker:
    """Random draws over the tenant as it is when the call starts."""

    def __init__(self, tenant: MutateMixin, seed: int) -> None:
        self.rng = random.Random(derive_seed(seed, "mutate"))
        self.tenant = tenant
        self.users: set[int] = set()  # user indexes already changed in this call
        self.pairs: set[tuple[int, int]] = set()  # (course, user) already changed
        self.team_pairs: set[tuple[int, int]] = set()  # (team, user) already changed
        self._sizes: list[int] | None = None

    def attempts(self, n: int) -> range:
        # Bounded: a tenant without candidates must not loop for ever.
        return range(20 * n + 100)

    def enrolled(self) -> tuple[Course, int] | None:
        """A random (course, user index) enrollment, about uniform over enrollments."""
        courses = self.tenant._courses
        if self._sizes is None:  # cumulative sizes as the call started; a course that
            # shrank since answers None for a draw past its end (the caller retries)
            self._sizes = list(itertools.accumulate(len(c.enrollees) for c in courses))
        if not self._sizes or self._sizes[-1] == 0:
            return None
        r = self.rng.randrange(self._sizes[-1])
        i = bisect.bisect_right(self._sizes, r)
        pos = r - (self._sizes[i - 1] if i else 0)
        course = courses[i]
        if pos >= len(course.enrollees):
            return None
        return course, course.enrollees[pos]


class MutateMixin(TeamWritesMixin):
    """``mutate()``: random changes for refresh tests and benchmarks."""

    def mutate(self, seed: int = 1, **counts: int) -> dict[str, Any]:
        """Applies ``counts`` random changes of each kind in ``MUTATIONS`` (in that
        order). Answers ``{"seed", "counts": {kind: applied}, "touched": {kind: ids}}``:
        user ids, or ``[user, course]`` / ``[team, user]`` / ``[team, user, role]``."""
        unknown = sorted(set(counts) - set(MUTATIONS))
        if unknown:
            raise ValueError(f"unknown mutations {unknown}; known: {list(MUTATIONS)}")
        for name, n in counts.items():
            if not isinstance(n, int) or isinstance(n, bool) or n < 0:
                raise ValueError(f"mutation count {name} must be an integer >= 0, got {n!r}")
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise ValueError(f"seed must be an integer, got {seed!r}")
        touched: dict[str, list[Any]] = {}
        with self.lock:
            picker = _Picker(self, seed)
            for name in MUTATIONS:
                if counts.get(name):
                    touched[name] = getattr(self, f"_m_{name}")(picker, counts[name])
        return {"seed": seed, "counts": {k: len(v) for k, v in touched.items()},
                "touched": touched}

    def _flip_users(self, p: _Picker, n: int, active: bool) -> list[Any]:
        candidates = [u for u in self._users if u.active != active and u.idx not in p.users]
        picked = p.rng.sample(candidates, min(n, len(candidates)))
        for user in picked:
            self.update_user(user.id, {"Active": active})
            p.users.add(user.idx)
        return [u.id for u in picked]

    def _m_deactivate_users(self, p: _Picker, n: int) -> list[Any]:
        return self._flip_users(p, n, False)

    def _m_reactivate_users(self, p: _Picker, n: int) -> list[Any]:
        return self._flip_users(p, n, True)

    def _m_assign_courses(self, p: _Picker, n: int) -> list[Any]:
        users: list[User] = [u for u in self._users if u.active]
        courses = self._courses
        done: list[Any] = []
        if not users or not courses:
            return done
        for _ in p.attempts(n):
            if len(done) == n:
                break
            course = courses[p.rng.randrange(len(courses))]
            user = users[p.rng.randrange(len(users))]
            key = (course.idx, user.idx)
            if key in p.pairs or self._is_enrolled(course, user.idx):
                continue
            self.assign_courses(user.id, [course.id])
            p.pairs.add(key)
            done.append([user.id, course.id])
        return done

    def _enrolled_pairs(self, p: _Picker, n: int,
                        apply: Callable[[Course, User], bool]) -> list[Any]:
        done: list[Any] = []
        for _ in p.attempts(n):
            if len(done) == n:
                break
            drawn = p.enrolled()
            if drawn is None or (drawn[0].idx, drawn[1]) in p.pairs:
                continue
            course, user = drawn[0], self._by_idx_live(drawn[1])
            if apply(course, user):
                p.pairs.add((course.idx, user.idx))
                done.append([user.id, course.id])
        return done

    def _m_unassign_courses(self, p: _Picker, n: int) -> list[Any]:
        def unassign(course: Course, user: User) -> bool:
            self.unassign_course(user.id, course.id)
            return True
        return self._enrolled_pairs(p, n, unassign)

    def _m_complete_courses(self, p: _Picker, n: int) -> list[Any]:
        def complete(course: Course, user: User) -> bool:
            if self._state(course, user.idx)[0]:
                return False  # already completed: not a change
            self.set_progress(user.id, course.id, 100)
            return True
        return self._enrolled_pairs(p, n, complete)

    def _team_changes(self, p: _Picker, n: int,
                      pick: Callable[[Team], tuple[list[int], str]],
                      apply: Callable[[Team, User, str], None]) -> list[Any]:
        """``pick(team)``: the user indexes of ``team`` the change may apply to, and the
        role it is about ("" for membership)."""
        teams = self._teams
        done: list[Any] = []
        if not teams:
            return done
        for _ in p.attempts(n):
            if len(done) == n:
                break
            team = teams[p.rng.randrange(len(teams))]
            people, role = pick(team)
            if not people:
                continue
            u = people[p.rng.randrange(len(people))]
            if (team.idx, u) in p.team_pairs:
                continue
            user = self._by_idx_live(u)
            apply(team, user, role)
            p.team_pairs.add((team.idx, u))
            done.append([team.id, user.id, role] if role else [team.id, user.id])
        return done

    def _m_add_team_members(self, p: _Picker, n: int) -> list[Any]:
        users = [u.idx for u in self._users if u.active]

        def outsider(team: Team) -> tuple[list[int], str]:
            u = users[p.rng.randrange(len(users))] if users else -1
            return ([u] if u >= 0 and u not in team.members else []), ""

        def add(team: Team, user: User, _: str) -> None:
            self.add_team_members(team.id, [user.id])
        return self._team_changes(p, n, outsider, add)

    def _m_remove_team_members(self, p: _Picker, n: int) -> list[Any]:
        def remove(team: Team, user: User, _: str) -> None:
            self.remove_team_member(team.id, user.id)
        return self._team_changes(p, n, lambda team: (team.members, ""), remove)

    def _m_grant_team_roles(self, p: _Picker, n: int) -> list[Any]:
        def member_without_role(team: Team) -> tuple[list[int], str]:
            role = _ROLES[p.rng.randrange(2)]
            holders = team.leaders if role == "leaders" else team.admins
            return [u for u in team.members if u not in holders], role

        def grant(team: Team, user: User, role: str) -> None:
            self.set_team_role(team.id, role, user.id, True)
        return self._team_changes(p, n, member_without_role, grant)

    def _m_revoke_team_roles(self, p: _Picker, n: int) -> list[Any]:
        def holder(team: Team) -> tuple[list[int], str]:
            role = _ROLES[p.rng.randrange(2)]
            return (team.leaders if role == "leaders" else team.admins), role

        def revoke(team: Team, user: User, role: str) -> None:
            self.set_team_role(team.id, role, user.id, False)
        return self._team_changes(p, n, holder, revoke)
