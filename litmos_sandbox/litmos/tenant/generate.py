"""Generating a tenant from a ``TenantSpec``: users, teams and memberships, courses and
their enrollees, learning paths, each from its own seeded RNG."""

from __future__ import annotations

import random
from array import array
from typing import Any, Self

from litmos_sandbox.litmos.tenant.derive import (
    NOW_DAY,
    derive_seed,
    midnight,
    mix64,
    stamp_ms,
    stamp_z,
)
from litmos_sandbox.litmos.tenant.fields import ACCESS_RANK
from litmos_sandbox.litmos.tenant.learning_paths import generate_learning_paths
from litmos_sandbox.litmos.tenant.model import Course, Team, User
from litmos_sandbox.litmos.tenant.names import (
    BRANDS,
    COURSE_PREFIXES,
    COURSE_TOPICS,
    COURSE_TOPICS_INTL,
    DEPARTMENTS,
    FIRST_ASCII,
    FIRST_INTL,
    LAST_ASCII,
    LAST_INTL,
    REGIONS,
)
from litmos_sandbox.litmos.tenant.spec import TenantSpec
from litmos_sandbox.litmos.tenant.store import TenantStore


class GeneratorMixin(TenantStore):
    """Builds the generated state; ``Tenant.generate(spec)`` is the entry point."""

    @classmethod
    def generate(cls, spec: TenantSpec) -> Self:
        spec.validate()
        tenant = cls(spec)
        tenant._generate_users()
        tenant._generate_teams()
        tenant._generate_courses()
        tenant._paths = generate_learning_paths(spec, tenant._new_id)
        return tenant

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> Self:
        return cls.generate(TenantSpec.preset(name, **overrides))

    def _generate_users(self) -> None:
        spec = self.spec
        rng = random.Random(derive_seed(spec.seed, "users"))
        n = spec.users
        inactive = set(rng.sample(range(n), round(n * spec.inactive_share)))
        first_intl = FIRST_INTL if spec.non_ascii else ()
        last_intl = LAST_INTL if spec.non_ascii else ()
        rand = rng.random
        for i in range(n):
            if first_intl and rand() < 0.2:
                first, first_a = first_intl[int(rand() * len(first_intl))]
            else:
                first = FIRST_ASCII[int(rand() * len(FIRST_ASCII))]
                first_a = first.lower()
            if last_intl and rand() < 0.2:
                last, last_a = last_intl[int(rand() * len(last_intl))]
            else:
                last = LAST_ASCII[int(rand() * len(LAST_ASCII))]
                last_a = last.lower().replace(" ", "").replace("'", "")
            brand, domain = BRANDS[int(rand() * len(BRANDS))]
            email = f"{first_a}.{last_a}{i}@{domain}"
            custom = rand() < 0.25
            user_name = f"{first_a[0]}{last_a}{i}" if custom else email
            created = 365 + int(rand() * (NOW_DAY - 400))
            salt = int(rand() * 0xFFFFFFFF)
            if rand() < 0.15:
                last_login = ""  # never logged in
            else:
                last_login = stamp_ms(created + int(rand() * (NOW_DAY - created)), salt >> 7)
            user = User(
                idx=i, id=self._new_id("user", i), user_name=user_name, first_name=first,
                last_name=last, email=email, active=i not in inactive, access_level="Learner",
                brand=brand, created_date=stamp_z(created, salt), last_login=last_login,
                is_custom_username=custom,
            )
            self._add_user(user)

    def _generate_teams(self) -> None:
        spec = self.spec
        rng = random.Random(derive_seed(spec.seed, "teams"))
        n_top = max(1, round(spec.teams ** 0.5 / 2)) if spec.teams else 0
        # Creation dates from a hash, not from ``rng``: the rest of the tenant stays as
        # it was generated before teams had dates.
        date_seed = derive_seed(spec.seed, "team-created")
        for t in range(spec.teams):
            parent = -1 if t < n_top else rng.randrange(t)
            region = REGIONS[rng.randrange(len(REGIONS))]
            if parent < 0:
                name = f"{region} {t + 1}"
                description = f"Top-level organisation for {region}"
            else:
                dept = DEPARTMENTS[rng.randrange(len(DEPARTMENTS))]
                name = f"{dept} – {region} {t + 1}"
                description = "" if rng.random() < 0.5 else f"{dept} team, {region}"
            h = mix64(date_seed ^ t)
            team = Team(idx=t, id=self._new_id("team", t), name=name, code=f"TEAM{t + 1:05d}",
                        parent=parent, description=description,
                        created_date=stamp_z(365 + h % (NOW_DAY - 400), h >> 20))
            self._teams.append(team)
            self._team_by_idx.append(team)
            self._team_by_id[team.id] = team
            if parent >= 0:
                self._teams[parent].children.append(t)
        self._generate_memberships(rng)
        if spec.courses:
            for team in self._teams:
                k = rng.randint(0, min(spec.team_courses_max, spec.courses))
                team.courses = sorted(rng.sample(range(spec.courses), k))

    def _generate_memberships(self, rng: random.Random) -> None:
        spec = self.spec
        n = spec.users
        if not n or not spec.teams:
            return
        order = list(range(n))
        rng.shuffle(order)
        m = spec.members_per_team
        jitter = m // 4 if spec.members_jitter is None else spec.members_jitter
        cursor = 0
        for team in self._teams:
            size = m + (rng.randint(-jitter, jitter) if jitter else 0)
            size = max(0, min(n, size))
            members = [order[(cursor + j) % n] for j in range(size)]
            cursor = (cursor + size) % n
            team.members = members
            for u in members:
                self._by_idx_live(u).teams.append(team.idx)
            active = [u for u in members if self._by_idx_live(u).active]
            team.leaders = active[: spec.leaders_per_team]
            team.admins = active[
                spec.leaders_per_team: spec.leaders_per_team + spec.admins_per_team
            ]
            for u in team.leaders:
                self._raise_access(self._by_idx_live(u), "Team_Leader")
            for u in team.admins:
                self._raise_access(self._by_idx_live(u), "Admin")

    @staticmethod
    def _raise_access(user: User, level: str) -> None:
        if ACCESS_RANK[level] > ACCESS_RANK[user.access_level]:
            user.access_level = level

    def _generate_courses(self) -> None:
        spec = self.spec
        rng = random.Random(derive_seed(spec.seed, "courses"))
        sizes = _course_sizes(spec.courses, spec.enrollments, spec.course_cap(), spec.skew)
        rng.shuffle(sizes)  # the big courses land anywhere in the list
        topics = COURSE_TOPICS + (COURSE_TOPICS_INTL if spec.non_ascii else ())
        creators = [u for u in self._users if u.access_level == "Admin"][:20] or self._users[:1]
        n_users = spec.users
        for c in range(spec.courses):
            topic, topic_code = topics[rng.randrange(len(topics))]
            prefix = COURSE_PREFIXES[rng.randrange(len(COURSE_PREFIXES))]
            course = Course()
            course.idx = c
            course.id = self._new_id("course", c)
            course.code = f"{topic_code}-{c + 1:04d}"
            course.name = f"{prefix}{topic}" + ("" if rng.random() < 0.5 else f" {c + 1}")
            course.active = rng.random() < 0.92
            course.for_sale = rng.random() < 0.1
            course.price = float(rng.choice((49, 99, 149))) if course.for_sale else 0.0
            course.original_id = 500_000 + c
            course.description = "" if rng.random() < 0.3 else f"Learn {topic} at your own pace."
            course.short_description = f"{topic} in brief" if course.for_sale else ""
            course.long_description = ""
            course.bulk_code = course.code if rng.random() < 0.5 else ""
            course.created_day = 365 + rng.randrange(NOW_DAY - 500)
            course.created_date = stamp_z(course.created_day, rng.randrange(86400))
            if rng.random() < 0.2:
                course.access_till_date = midnight(course.created_day + 1800)
                course.access_till_days = None
            else:
                course.access_till_date = None
                course.access_till_days = rng.choice((None, None, 30, 90, 365))
            course.team_library = rng.random() < 0.3
            course.created_by = creators[rng.randrange(len(creators))].full_name if creators else ""
            course.seq_id = c + 1
            course.salt = derive_seed(spec.seed, "enrollment-salt", c)
            course.completion = int(rng.uniform(0.2, 0.9) * 0x10000)
            course.modules = rng.randint(1, 6)
            course.enrollees = _sample_enrollees(spec.seed, c, n_users, sizes[c])
            self._courses.append(course)
            self._course_by_idx.append(course)
            self._course_by_id[course.id] = course


def _course_sizes(courses: int, target: int, cap: int, skew: float) -> list[int]:
    """Per-course enrollee counts: Zipf-like weights 1/rank**skew scaled so the
    counts, each capped at ``cap``, sum to ``target`` (water-filling)."""
    if courses == 0 or cap == 0:
        return [0] * courses
    target = min(target, cap * courses)
    weights = [1.0 / (r + 1) ** skew for r in range(courses)]

    def filled(scale: float) -> float:
        return sum(min(cap, scale * w) for w in weights)

    lo, hi = 0.0, cap / weights[-1]
    for _ in range(200):
        mid = (lo + hi) / 2
        if filled(mid) < target:
            lo = mid
        else:
            hi = mid
    exact = [min(float(cap), hi * w) for w in weights]
    sizes = [int(x) for x in exact]
    # Hand out the rounding remainder to the largest fractions that still have room.
    short = target - sum(sizes)
    order = sorted(range(courses), key=lambda r: (sizes[r] - exact[r], r))
    for r in order:
        if short <= 0:
            break
        if sizes[r] < cap:
            sizes[r] += 1
            short -= 1
    return sizes


def _sample_enrollees(seed: int, course: int, n_users: int, k: int) -> array[int]:
    """``k`` distinct user indexes, sorted, from the course's own RNG."""
    if k >= n_users:
        return array("i", range(n_users))
    rng = random.Random(derive_seed(seed, "enrollees", course))
    picked = rng.sample(range(n_users), k)
    picked.sort()
    return array("i", picked)
