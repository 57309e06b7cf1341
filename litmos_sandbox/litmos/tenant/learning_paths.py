"""Learning paths: a handful of course sequences per tenant and the users assigned to each.

Generated from their own seeds, after everything else: the users, teams, courses and
enrollments of a preset are what they were before learning paths existed. A path's users
are a sorted ``array('i')`` of user indexes (a few thousand at most on the large preset);
a user's progress on a path is derived from a hash, as for enrollments.
"""

from __future__ import annotations

import bisect
import random
from array import array
from collections.abc import Callable, Iterable

from litmos_sandbox.litmos.tenant.derive import NOW_DAY, derive_seed, mix64, stamp_z
from litmos_sandbox.litmos.tenant.fields import Row
from litmos_sandbox.litmos.tenant.model import TenantError, User, not_found
from litmos_sandbox.litmos.tenant.names import COURSE_TOPICS
from litmos_sandbox.litmos.tenant.spec import TenantSpec
from litmos_sandbox.litmos.tenant.store import TenantStore


class LearningPath:
    __slots__ = ("idx", "id", "name", "description", "active", "original_id", "courses",
                 "users", "salt", "created_day")

    def __init__(self, idx: int, id: str, name: str, description: str, active: bool,
                 courses: list[int], users: array[int], salt: int, created_day: int) -> None:
        self.idx = idx
        self.id = id
        self.name = name
        self.description = description
        self.active = active
        self.original_id = 700_000 + idx
        self.courses = courses  # course indexes, in the path's order
        self.users = users  # assigned user indexes, sorted
        self.salt = salt
        self.created_day = created_day

    def __repr__(self) -> str:
        return f"LearningPath(id={self.id!r}, users={len(self.users)})"


def generate_learning_paths(spec: TenantSpec,
                            new_id: Callable[[str, int], str]) -> list[LearningPath]:
    """The spec's learning paths, from seeds of their own (see the module docstring)."""
    rng = random.Random(derive_seed(spec.seed, "learning-paths"))
    most = min(spec.users, max(2, spec.users // 50))  # users assigned to one path, at most
    paths = []
    for p in range(spec.learning_paths):
        topic = COURSE_TOPICS[rng.randrange(len(COURSE_TOPICS))][0]
        k = rng.randint(1, min(5, spec.courses)) if spec.courses else 0
        courses = rng.sample(range(spec.courses), k)
        picked = sorted(rng.sample(range(spec.users), rng.randint(1, most))) if most else []
        paths.append(LearningPath(
            idx=p, id=new_id("learningpath", p), name=f"{topic} path {p + 1}",
            description="" if rng.random() < 0.4 else f"A path through {topic}.",
            active=rng.random() < 0.9, courses=courses, users=array("i", picked),
            salt=derive_seed(spec.seed, "learning-path-salt", p),
            created_day=365 + rng.randrange(NOW_DAY - 500)))
    return paths


class LearningPathsMixin(TenantStore):
    """Learning path reads, API rows and the user assignment writes."""

    def learning_paths(self) -> list[LearningPath]:
        with self.lock:
            return list(self._paths)

    def learning_path_users(self, path_id: str) -> list[User]:
        with self.lock:
            return self._path_users(self._need_path(path_id))

    def page_learning_paths(self, start: int, limit: int) -> list[Row]:
        with self.lock:
            return [_path_row(p) for p in self._paths[start:start + limit]]

    def learning_path_detail(self, path_id: str) -> Row:
        with self.lock:
            return _path_row(self._need_path(path_id))

    def page_learning_path_users(self, path_id: str, start: int, limit: int) -> list[Row]:
        with self.lock:
            users = self._path_users(self._need_path(path_id))[start:start + limit]
            return [(u.id, u.user_name, u.first_name, u.last_name) for u in users]

    def page_learning_path_courses(self, path_id: str, start: int, limit: int) -> list[Row]:
        with self.lock:
            path = self._need_path(path_id)
            courses = [self._course_by_idx[c] for c in path.courses]
            return [(c.id, c.code, c.name, c.active) for c in courses
                    if c is not None][start:start + limit]

    def page_user_learning_paths(self, user_key: str, start: int, limit: int) -> list[Row]:
        with self.lock:
            user = self._need_user(user_key)
            paths = [p for p in self._paths if _holds(p, user.idx)]
            return [_user_path_row(p, user.idx) for p in paths[start:start + limit]]

    def assign_learning_paths(self, user_key: str, path_ids: Iterable[str]) -> list[str]:
        """Assigns paths; already-assigned ones are left as they are. All ids are checked
        before anything changes. Returns the ids newly assigned."""
        with self.lock:
            user = self._need_user(user_key)
            paths = [self._need_path(pid) for pid in path_ids]
            added = []
            for path in paths:
                i = bisect.bisect_left(path.users, user.idx)
                if i == len(path.users) or path.users[i] != user.idx:
                    path.users.insert(i, user.idx)
                    added.append(path.id)
            return added

    def unassign_learning_path(self, user_key: str, path_id: str) -> None:
        with self.lock:
            user = self._need_user(user_key)
            path = self._need_path(path_id)
            i = bisect.bisect_left(path.users, user.idx)
            if i == len(path.users) or path.users[i] != user.idx:
                raise TenantError(404, f"user {user_key!r} is not assigned learning path "
                                       f"{path_id!r}")
            del path.users[i]

    def _need_path(self, path_id: str) -> LearningPath:
        path = next((p for p in self._paths if p.id == path_id), None)  # tens to hundreds
        if path is None:
            raise not_found("learning path", path_id)
        return path

    def _path_users(self, path: LearningPath) -> list[User]:
        # A deleted user leaves the path's lists (its index stays, pointing at None).
        return [u for u in map(self._by_idx.__getitem__, path.users) if u is not None]


def _holds(path: LearningPath, u: int) -> bool:
    i = bisect.bisect_left(path.users, u)
    return i < len(path.users) and path.users[i] == u


def _path_row(path: LearningPath) -> Row:
    return (path.id, path.name, path.description, path.active, path.original_id, False, 0.0,
            False)


def _user_path_row(path: LearningPath, u: int) -> Row:
    h = mix64(path.salt ^ u)
    pct = (h & 0xFF) % 101
    assigned = path.created_day + (h >> 8) % max(1, NOW_DAY - path.created_day)
    started = stamp_z(assigned + 1, h >> 20) if pct else None
    completed = stamp_z(assigned + 30, h >> 24) if pct == 100 else None
    return (path.id, path.name, path.active, pct == 100, pct, stamp_z(assigned, h >> 16),
            started, completed, 800_000_000 + (h >> 40) % 100_000_000, None)
