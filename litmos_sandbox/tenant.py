"""A deterministic, synthetic Litmos tenant: users, teams, courses and enrollments.

The tenant is the state behind the Litmos sandbox server. It is generated from a
``TenantSpec`` (same spec, same seed -> the same tenant, byte for byte through the
API) and is mutable through the write methods, which the server's write endpoints
call. All public methods take the tenant's lock, so the object is safe to share
between server threads and a test that inspects it.

Storage is kept lean so the large preset (100k users, 2M enrollments) builds in a
few seconds: a course's enrollees are a sorted ``array('i')`` of user indexes, and
the per-enrollment fields (completion, dates, ...) are derived on read from a
hash of (course, user), with an overlay for enrollments made through the API.
"""

from __future__ import annotations

import base64
import bisect
import hashlib
import random
import threading
from array import array
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, fields
from datetime import date, timedelta
from typing import Any

# ---------------------------------------------------------------------------
# Field lists, spelled and ordered as the API answers them. A row is a tuple
# aligned with one of these; ``None`` is a nil value, "" an empty one.
# ---------------------------------------------------------------------------

USER_LIST_FIELDS: tuple[str, ...] = (
    "Id", "UserName", "FirstName", "LastName", "Active", "Email", "AccessLevel", "Brand",
)
USER_FIELDS: tuple[str, ...] = (
    "Id", "UserName", "FirstName", "LastName", "FullName", "Email", "AccessLevel",
    "DisableMessages", "Active", "Skype", "PhoneWork", "PhoneMobile", "LastLogin",
    "LoginKey", "IsCustomUsername", "Password", "SkipFirstLogin", "TimeZone",
    "SalesforceId", "OriginalId", "Street1", "Street2", "City", "State", "PostalCode",
    "Country", "CompanyName", "JobTitle",
    *(f"CustomField{i}" for i in range(1, 11)),
    "Culture", "Brand", "SalesforceContactId", "SalesforceAccountId", "CreatedDate", "Points",
)
MEMBER_FIELDS: tuple[str, ...] = ("Id", "UserName", "FirstName", "LastName")
TEAM_FIELDS: tuple[str, ...] = (
    "Id", "Name", "TeamCodeForBulkImport", "ParentTeamId", "Description",
)
COURSE_FIELDS: tuple[str, ...] = (
    "Id", "Code", "Name", "Active", "ForSale", "OriginalId", "Description",
    "EcommerceShortDescription", "EcommerceLongDescription", "CourseCodeForBulkImport",
    "Price", "AccessTillDate", "AccessTillDays", "CourseTeamLibrary", "CreatedBy", "SeqId",
)
COURSE_USER_FIELDS: tuple[str, ...] = (
    "Id", "UserName", "FirstName", "LastName", "Completed", "PercentageComplete",
    "CompliantTill", "DueDate", "AccessTillDate",
)
USER_COURSE_FIELDS: tuple[str, ...] = (
    "Id", "Code", "Name", "Active", "Complete", "PercentageComplete", "AssignedDate",
    "StartDate", "DateCompleted", "UpToDate", "Overdue", "CompliantTill", "IsLearningPath",
    "CourseCreatedDate", "CourseCreator", "OriginalId", "ResultId", "AccessTillDate",
)
# Not described in litmos-api.md beyond the path: a plausible minimal shape.
MODULE_FIELDS: tuple[str, ...] = ("Id", "Code", "Name", "Description", "Active")

ACCESS_LEVELS: tuple[str, ...] = ("Learner", "Team_Leader", "Admin")
_ACCESS_RANK = {"Learner": 0, "Team_Leader": 1, "Admin": 2}

Row = tuple[Any, ...]

# ---------------------------------------------------------------------------
# Deterministic helpers
# ---------------------------------------------------------------------------

_M64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15


def _mix64(x: int) -> int:
    """splitmix64 finaliser: a cheap, well-spread 64-bit hash of an int."""
    x = (x + _GOLDEN) & _M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


def _derive_seed(seed: int, *labels: object) -> int:
    """A 64-bit seed for one purpose; hashlib, so independent of PYTHONHASHSEED."""
    text = ":".join([str(seed), *map(str, labels)]).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big")


_ID_TRANSLATE = str.maketrans({"-": "_"})


def _opaque_id(seed: int, kind: str, n: int, attempt: int = 0) -> str:
    """A 12-character id like ``mVN_K4Q9yuQ1``: 9 hash bytes in url-safe base64."""
    digest = hashlib.blake2b(f"{seed}:{kind}:{n}:{attempt}".encode(), digest_size=9).digest()
    return base64.urlsafe_b64encode(digest).decode().translate(_ID_TRANSLATE)


# Dates are days from _DAY0, rendered through a table: formatting a date per
# enrollment row with datetime would dominate the cost of a page.
_DAY0 = date(2015, 1, 1)
NOW_DAY = (date(2025, 6, 1) - _DAY0).days  # the tenant's frozen "today"
_DAYS: list[str] = [(_DAY0 + timedelta(days=d)).isoformat() for d in range(NOW_DAY + 1200)]


def _day(d: int) -> str:
    return _DAYS[min(d, len(_DAYS) - 1)]


def _hms(x: int) -> str:
    s = x % 86400
    return f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}"


def _stamp_z(day: int, x: int) -> str:
    """``2016-12-09T07:54:27Z`` form."""
    return f"{_day(day)}T{_hms(x)}Z"


def _stamp_ms(day: int, x: int) -> str:
    """``2016-12-09T07:54:27.123`` form (no zone); the API uses both."""
    return f"{_day(day)}T{_hms(x)}.{(x >> 20) % 1000:03d}"


def _midnight(day: int) -> str:
    return f"{_day(day)}T00:00:00"


# ---------------------------------------------------------------------------
# Name material. Pairs are (display, ascii) so usernames and emails stay ASCII.
# ---------------------------------------------------------------------------

_FIRST_ASCII = (
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David",
    "Elizabeth", "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas",
    "Sarah", "Charles", "Karen", "Christopher", "Lisa", "Daniel", "Nancy", "Matthew", "Betty",
    "Anthony", "Sandra", "Mark", "Margaret", "Priya", "Arjun", "Fatima", "Omar", "Aisha",
    "Kwame", "Amara", "Hiroshi", "Mei", "Lars", "Ingrid", "Pedro", "Lucia", "Ahmed", "Noor",
    "Tomasz", "Olga", "Dmitri", "Chloe", "Liam", "Emma", "Noah", "Olivia", "Mateo", "Sofia",
)
_FIRST_INTL = (
    ("José", "jose"), ("Zoë", "zoe"), ("Łukasz", "lukasz"), ("Søren", "soren"),
    ("François", "francois"), ("Björn", "bjorn"), ("Anaïs", "anais"), ("Jürgen", "jurgen"),
    ("Siobhán", "siobhan"), ("Renée", "renee"), ("İlker", "ilker"), ("Ångström", "angstrom"),
    ("伟", "wei"), ("芳", "fang"), ("陽翔", "haruto"), ("さくら", "sakura"), ("지훈", "jihoon"),
    ("Александр", "aleksandr"), ("Ελένη", "eleni"), ("محمد", "mohammed"), ("Nguyệt", "nguyet"),
)
_LAST_ASCII = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Miller", "Davis", "Wilson", "Anderson",
    "Taylor", "Thomas", "Moore", "Martin", "Jackson", "Thompson", "White", "Harris", "Clark",
    "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright", "Scott", "Hill", "Green",
    "Adams", "Baker", "Patel", "Singh", "Okafor", "Mensah", "Tanaka", "Chen", "Kowalski",
    "Novak", "Larsen", "Silva", "Rossi", "Schmidt", "Haddad", "Kaur", "Smith-Jones",
    "de la Cruz", "van der Berg", "McAllister",
)
_LAST_INTL = (
    ("García", "garcia"), ("Müller", "muller"), ("Nguyễn", "nguyen"), ("O'Brien", "obrien"),
    ("Øster", "oster"), ("Dvořák", "dvorak"), ("Çelik", "celik"), ("Jiménez", "jimenez"),
    ("Løkke", "lokke"), ("Šimić", "simic"), ("王", "wang"), ("李", "li"), ("田中", "tanaka"),
    ("김", "kim"), ("Иванова", "ivanova"), ("Παπαδόπουλος", "papadopoulos"),
    ("Şahin", "sahin"), ("Ó Súilleabháin", "osuilleabhain"),
)
_BRANDS = (
    ("Acme Learning", "acme.example.com"),
    ("Globex Academy", "globex.example.com"),
    ("Initech University", "initech.example.org"),
)
_TIMEZONES = (
    "Eastern Standard Time", "Pacific Standard Time", "GMT Standard Time",
    "W. Europe Standard Time", "Tokyo Standard Time", "AUS Eastern Standard Time",
)
_CULTURES = ("en-US", "en-GB", "de-DE", "fr-FR", "ja-JP", "es-ES", "pt-BR")
_PLACES = (
    ("Austin", "TX", "78701", "United States"),
    ("Boston", "MA", "02108", "United States"),
    ("London", "", "EC1A 1BB", "United Kingdom"),
    ("München", "Bayern", "80331", "Germany"),
    ("Zürich", "ZH", "8001", "Switzerland"),
    ("São Paulo", "SP", "01000-000", "Brazil"),
    ("東京", "東京都", "100-0001", "Japan"),
    ("Sydney", "NSW", "2000", "Australia"),
    ("Kraków", "Małopolskie", "30-001", "Poland"),
)
_JOB_TITLES = (
    "Account Executive", "Software Engineer", "Support Specialist", "HR Partner",
    "Warehouse Associate", "Nurse", "Store Manager", "Analyst", "Chef de partie",
    "Director, R&D", "Ingénieure", "",
)
_DEPARTMENTS = (
    "Sales", "Marketing", "Engineering", "R&D", "Support", "Finance", "HR", "Legal",
    "Operations", "Logistics", "Vertrieb", "Ventes", "営業部",
)
_REGIONS = (
    "EMEA", "APAC", "North America", "LATAM", "Nordics", "DACH", "Île-de-France",
    "São Paulo", "東京",
)
_COURSE_TOPICS = (
    ("Data Privacy", "DPR"), ("Workplace Safety", "WPS"), ("Anti-Harassment", "AHR"),
    ("Health & Safety", "HNS"), ("Code of Conduct", "COC"), ("Information Security", "ISC"),
    ("Customer Service", "CSV"), ("Leadership", "LDR"), ("Sales Fundamentals", "SLS"),
    ("Product Training", "PRD"), ("Onboarding", "ONB"), ("GDPR", "GDP"),
    ("Diversity & Inclusion", "DNI"), ("First Aid", "FAD"), ("Fire Safety", "FIR"),
    ("Ethics", "ETH"), ("Time Management", "TMG"), ("Negotiation", "NEG"),
    ("Project Management", "PMG"), ("Cybersecurity Awareness", "CYB"), ("Anti-Bribery", "ABR"),
    ("Forklift Operation", "FRK"), ("Food Hygiene", "FHY"), ("Mental Health", "MNH"),
    ("HTML <basics> & CSS", "WEB"),
)
_COURSE_TOPICS_INTL = (
    ("Sécurité au travail", "SAT"), ("Datenschutz für Führungskräfte", "DSF"),
    ("情報セキュリティ基礎", "JSK"), ("Ética empresarial", "ETE"),
)
_COURSE_PREFIXES = ("", "", "Introduction to ", "Advanced ", "Essentials of ", "Annual ",
                    "Refresher: ")

# ---------------------------------------------------------------------------
# Spec
# ---------------------------------------------------------------------------

_PRESETS: dict[str, dict[str, Any]] = {
    "tiny": dict(users=10, teams=3, courses=3, enrollments=15, inactive_share=0.1,
                 members_per_team=4, members_jitter=0),
    "small": dict(users=1_000, teams=50, courses=20, enrollments=20_000),
    "medium": dict(users=20_000, teams=1_000, courses=300, enrollments=300_000),
    "large": dict(users=100_000, teams=5_000, courses=2_000, enrollments=2_000_000,
                  max_course_enrollees=90_000),
}


@dataclass(frozen=True)
class TenantSpec:
    """What to generate. ``enrollments`` is a target total, met exactly unless it
    exceeds ``courses * max_course_enrollees``; per-course sizes follow a Zipf-like
    law with exponent ``skew`` (1.0: a large tenant gets a few 50,000+ courses)."""

    seed: int = 1
    users: int = 10
    teams: int = 3
    courses: int = 3
    enrollments: int = 15
    inactive_share: float = 0.05
    members_per_team: int = 20
    members_jitter: int | None = None  # team size = members_per_team +/- jitter; None: 1/4
    leaders_per_team: int = 1
    admins_per_team: int = 1
    max_course_enrollees: int | None = None  # None: every user may be enrolled
    skew: float = 1.0
    non_ascii: bool = True
    team_courses_max: int = 3  # each team gets 0..this many courses assigned

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> TenantSpec:
        try:
            values = dict(_PRESETS[name])
        except KeyError:
            raise ValueError(
                f"unknown tenant preset {name!r}; expected one of {sorted(_PRESETS)}"
            ) from None
        values.update(overrides)
        return cls(**values)

    @staticmethod
    def preset_names() -> tuple[str, ...]:
        return tuple(_PRESETS)

    def validate(self) -> None:
        for name in ("users", "teams", "courses", "enrollments", "members_per_team",
                     "leaders_per_team", "admins_per_team", "team_courses_max"):
            if getattr(self, name) < 0:
                raise ValueError(f"TenantSpec.{name} must be >= 0, got {getattr(self, name)}")
        if not 0.0 <= self.inactive_share <= 1.0:
            raise ValueError(
                f"TenantSpec.inactive_share must be within [0, 1], got {self.inactive_share}"
            )
        if self.max_course_enrollees is not None and self.max_course_enrollees < 0:
            raise ValueError("TenantSpec.max_course_enrollees must be >= 0 or None")
        if self.skew < 0:
            raise ValueError(f"TenantSpec.skew must be >= 0, got {self.skew}")

    def course_cap(self) -> int:
        cap = self.users if self.max_course_enrollees is None else self.max_course_enrollees
        return min(cap, self.users)


# ---------------------------------------------------------------------------
# Model objects. Mutable, owned by the tenant; read them, change them only
# through Tenant's write methods.
# ---------------------------------------------------------------------------


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
        "courses", "children",
    )

    def __init__(self, idx: int, id: str, name: str, code: str, parent: int,
                 description: str) -> None:
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
_EnrollState = tuple[bool, int, str, str | None, str | None, str | None, str | None, str,
                     bool, bool, int]


class TenantError(Exception):
    """A write the API would refuse; ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _not_found(kind: str, key: str) -> TenantError:
    return TenantError(404, f"{kind} {key!r} not found")


# ---------------------------------------------------------------------------
# Writable user fields (API spelling -> how to coerce the text/JSON value)
# ---------------------------------------------------------------------------

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


def _as_text(value: Any) -> str:
    return "" if value is None else str(value)


# ---------------------------------------------------------------------------
# Tenant
# ---------------------------------------------------------------------------


class Tenant:
    """The whole tenant. Build with ``Tenant.generate(spec)``."""

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
        self._courses: list[Course] = []
        self._course_by_id: dict[str, Course] = {}
        self._overlay: dict[int, _EnrollState] = {}  # (course<<32|user) -> state set by API
        self._ids: set[str] = set()
        self._user_views: dict[tuple[str, bool], list[User]] = {}
        self._clock = 0  # seconds past the frozen "now", advanced by each write
        self._next_result_id = 900_000_000

    # -- generation ---------------------------------------------------------

    @classmethod
    def generate(cls, spec: TenantSpec) -> Tenant:
        spec.validate()
        tenant = cls(spec)
        tenant._generate_users()
        tenant._generate_teams()
        tenant._generate_courses()
        return tenant

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> Tenant:
        return cls.generate(TenantSpec.preset(name, **overrides))

    def _new_id(self, kind: str, n: int) -> str:
        attempt = 0
        while True:
            candidate = _opaque_id(self.spec.seed, kind, n, attempt)
            if candidate not in self._ids:
                self._ids.add(candidate)
                return candidate
            attempt += 1

    def _generate_users(self) -> None:
        spec = self.spec
        rng = random.Random(_derive_seed(spec.seed, "users"))
        n = spec.users
        inactive = set(rng.sample(range(n), round(n * spec.inactive_share)))
        first_intl = _FIRST_INTL if spec.non_ascii else ()
        last_intl = _LAST_INTL if spec.non_ascii else ()
        rand = rng.random
        for i in range(n):
            if first_intl and rand() < 0.2:
                first, first_a = first_intl[int(rand() * len(first_intl))]
            else:
                first = _FIRST_ASCII[int(rand() * len(_FIRST_ASCII))]
                first_a = first.lower()
            if last_intl and rand() < 0.2:
                last, last_a = last_intl[int(rand() * len(last_intl))]
            else:
                last = _LAST_ASCII[int(rand() * len(_LAST_ASCII))]
                last_a = last.lower().replace(" ", "").replace("'", "")
            brand, domain = _BRANDS[int(rand() * len(_BRANDS))]
            email = f"{first_a}.{last_a}{i}@{domain}"
            custom = rand() < 0.25
            user_name = f"{first_a[0]}{last_a}{i}" if custom else email
            created = 365 + int(rand() * (NOW_DAY - 400))
            salt = int(rand() * 0xFFFFFFFF)
            if rand() < 0.15:
                last_login = ""  # never logged in
            else:
                last_login = _stamp_ms(created + int(rand() * (NOW_DAY - created)), salt >> 7)
            user = User(
                idx=i, id=self._new_id("user", i), user_name=user_name, first_name=first,
                last_name=last, email=email, active=i not in inactive, access_level="Learner",
                brand=brand, created_date=_stamp_z(created, salt), last_login=last_login,
                is_custom_username=custom,
            )
            self._add_user(user)

    def _add_user(self, user: User) -> None:
        self._users.append(user)
        self._by_idx.append(user)
        self._user_by_id[user.id] = user
        self._user_by_name[user.user_name.casefold()] = user

    def _generate_teams(self) -> None:
        spec = self.spec
        rng = random.Random(_derive_seed(spec.seed, "teams"))
        n_top = max(1, round(spec.teams ** 0.5 / 2)) if spec.teams else 0
        for t in range(spec.teams):
            parent = -1 if t < n_top else rng.randrange(t)
            region = _REGIONS[rng.randrange(len(_REGIONS))]
            if parent < 0:
                name = f"{region} {t + 1}"
                description = f"Top-level organisation for {region}"
            else:
                dept = _DEPARTMENTS[rng.randrange(len(_DEPARTMENTS))]
                name = f"{dept} – {region} {t + 1}"
                description = "" if rng.random() < 0.5 else f"{dept} team, {region}"
            team = Team(idx=t, id=self._new_id("team", t), name=name, code=f"TEAM{t + 1:05d}",
                        parent=parent, description=description)
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
        if _ACCESS_RANK[level] > _ACCESS_RANK[user.access_level]:
            user.access_level = level

    def _generate_courses(self) -> None:
        spec = self.spec
        rng = random.Random(_derive_seed(spec.seed, "courses"))
        sizes = _course_sizes(spec.courses, spec.enrollments, spec.course_cap(), spec.skew)
        rng.shuffle(sizes)  # the big courses land anywhere in the list
        topics = _COURSE_TOPICS + (_COURSE_TOPICS_INTL if spec.non_ascii else ())
        creators = [u for u in self._users if u.access_level == "Admin"][:20] or self._users[:1]
        n_users = spec.users
        for c in range(spec.courses):
            topic, topic_code = topics[rng.randrange(len(topics))]
            prefix = _COURSE_PREFIXES[rng.randrange(len(_COURSE_PREFIXES))]
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
            course.created_date = _stamp_z(course.created_day, rng.randrange(86400))
            if rng.random() < 0.2:
                course.access_till_date = _midnight(course.created_day + 1800)
                course.access_till_days = None
            else:
                course.access_till_date = None
                course.access_till_days = rng.choice((None, None, 30, 90, 365))
            course.team_library = rng.random() < 0.3
            course.created_by = creators[rng.randrange(len(creators))].full_name if creators else ""
            course.seq_id = c + 1
            course.salt = _derive_seed(spec.seed, "enrollment-salt", c)
            course.completion = int(rng.uniform(0.2, 0.9) * 0x10000)
            course.modules = rng.randint(1, 6)
            course.enrollees = _sample_enrollees(spec.seed, c, n_users, sizes[c])
            self._courses.append(course)
            self._course_by_id[course.id] = course

    # -- enrollment state ---------------------------------------------------

    @staticmethod
    def _derive_state(course: Course, u: int) -> _EnrollState:
        """The generated state of user index ``u`` in ``course``: a pure function of
        the course's salt and the user index, so both enrollment views agree."""
        h = _mix64(course.salt ^ u)
        completed = (h & 0xFFFF) < course.completion
        if completed:
            pct = 100
        else:
            r = (h >> 16) & 0xFF
            pct = 0 if r < 100 else r % 100
        span = max(1, NOW_DAY - course.created_day)
        ad = course.created_day + (h >> 24) % span
        assigned = _stamp_z(ad, h >> 11)
        start = _stamp_z(ad + ((h >> 52) & 7), h >> 13) if pct else None
        done_day = ad + 1 + ((h >> 40) & 63)
        date_completed = _stamp_z(done_day, h >> 17) if completed else None
        compliant = completed and bool((h >> 46) & 1)
        compliant_till = _midnight(done_day + 365) if compliant else None
        due = None if ((h >> 47) & 3) == 0 else _midnight(ad + 30)
        access_till = _stamp_z(ad + 730, 0) if ((h >> 49) & 3) == 0 else ""
        overdue = (not completed) and due is not None and ad + 30 < NOW_DAY
        up_to_date = completed and (not compliant or done_day + 365 >= NOW_DAY)
        result_id = 10_000_000 + (h >> 8) % 880_000_000
        return (completed, pct, assigned, start, date_completed, compliant_till, due,
                access_till, up_to_date, overdue, result_id)

    @staticmethod
    def _derive_brief(course: Course, u: int) -> tuple[bool, int, str | None, str | None, str]:
        """The course-user view's subset of ``_derive_state`` (same bits, same
        values), without the timestamps that view does not show: a page of a
        course's users is the hottest read path."""
        h = _mix64(course.salt ^ u)
        completed = (h & 0xFFFF) < course.completion
        if completed:
            pct = 100
        else:
            r = (h >> 16) & 0xFF
            pct = 0 if r < 100 else r % 100
        ad = course.created_day + (h >> 24) % max(1, NOW_DAY - course.created_day)
        if completed and (h >> 46) & 1:
            compliant_till: str | None = _DAYS[ad + 366 + ((h >> 40) & 63)] + "T00:00:00"
        else:
            compliant_till = None
        due = None if ((h >> 47) & 3) == 0 else _DAYS[ad + 30] + "T00:00:00"
        access_till = _DAYS[ad + 730] + "T00:00:00Z" if ((h >> 49) & 3) == 0 else ""
        return completed, pct, compliant_till, due, access_till

    def _state(self, course: Course, u: int) -> _EnrollState:
        state = self._overlay.get((course.idx << 32) | u)
        return state if state is not None else self._derive_state(course, u)

    def _fresh_state(self) -> _EnrollState:
        self._next_result_id += 1
        return (False, 0, self._now(), None, None, None, None, "", False, False,
                self._next_result_id)

    def _now(self) -> str:
        """The tenant clock: frozen "today" plus one second per write, so writes
        stay deterministic too."""
        self._clock += 1
        return _stamp_z(NOW_DAY + self._clock // 86400, self._clock)

    def _enrollment(self, course: Course, user: User) -> Enrollment:
        s = self._state(course, user.idx)
        return Enrollment(course.id, user.id, s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7],
                          s[8], s[9], s[10])

    @staticmethod
    def _is_enrolled(course: Course, u: int) -> bool:
        arr = course.enrollees
        i = bisect.bisect_left(arr, u)
        return i < len(arr) and arr[i] == u

    # -- lookups (public; all take the lock) ----------------------------------

    def _by_idx_live(self, u: int) -> User:
        user = self._by_idx[u]
        assert user is not None
        return user

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

    def _need_user(self, key: str) -> User:
        user = self._user_by_id.get(key) or self._user_by_name.get(key.casefold())
        if user is None:
            raise _not_found("user", key)
        return user

    def _need_team(self, team_id: str) -> Team:
        team = self._team_by_id.get(team_id)
        if team is None:
            raise _not_found("team", team_id)
        return team

    def _need_course(self, course_id: str) -> Course:
        course = self._course_by_id.get(course_id)
        if course is None:
            raise _not_found("course", course_id)
        return course

    # -- iteration for tests / expected results -------------------------------

    def users(self, *, active_only: bool = False) -> list[User]:
        with self.lock:
            return [u for u in self._users if u.active or not active_only]

    def teams(self) -> list[Team]:
        with self.lock:
            return list(self._teams)

    def courses(self) -> list[Course]:
        with self.lock:
            return list(self._courses)

    def _users_of(self, indexes: Iterable[int]) -> list[User]:
        return [self._by_idx_live(u) for u in indexes]

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
            return [self._courses[c] for c in self._need_team(team_id).courses]

    def user_teams(self, user_key: str) -> list[Team]:
        with self.lock:
            return [self._live_team(t) for t in self._need_user(user_key).teams]

    def _live_team(self, t: int) -> Team:
        team = self._team_by_idx[t]
        assert team is not None
        return team

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

    # -- API rows (tuples aligned with the *_FIELDS lists) ----------------------

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
            mid = _opaque_id(course.salt, "module", m)
            rows.append((mid, f"{course.code}-M{m + 1}", f"{course.name} – part {m + 1}", "",
                         True))
        return rows

    @staticmethod
    def record(fields_: tuple[str, ...], row: Row) -> dict[str, Any]:
        """A row as the API's JSON object."""
        return dict(zip(fields_, row, strict=True))

    # -- pages for the server (start/limit/search applied under the lock) ----------

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
            return [self.course_row(self._courses[c]) for c in team.courses[start:start + limit]]

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

    # -- writes: users -------------------------------------------------------

    def create_user(self, values: Mapping[str, Any]) -> User:
        with self.lock:
            user_name = _as_text(values.get("UserName")).strip()
            if not user_name:
                raise TenantError(400, "field UserName is required")
            if user_name.casefold() in self._user_by_name:
                raise TenantError(400, f"UserName {user_name!r} already exists")
            idx = len(self._by_idx)
            level = _as_text(values.get("AccessLevel")) or "Learner"
            _check_access_level(level)
            active = _as_bool(values["Active"], "Active") if "Active" in values else True
            user = User(
                idx=idx, id=self._new_id("user", idx), user_name=user_name,
                first_name=_as_text(values.get("FirstName")),
                last_name=_as_text(values.get("LastName")),
                email=_as_text(values.get("Email")), active=active, access_level=level,
                brand=_as_text(values.get("Brand")) or _BRANDS[0][0],
                created_date=self._now(), last_login="",
                is_custom_username="@" not in user_name,
            )
            self._apply_extra(user, values)
            self._add_user(user)
            self._changed_users()
            return user

    def update_user(self, user_key: str, values: Mapping[str, Any]) -> User:
        with self.lock:
            user = self._need_user(user_key)
            body_id = values.get("Id")
            if body_id not in (None, "", user.id):
                raise TenantError(400, f"body Id {body_id!r} does not match the path id")
            if "UserName" in values:
                new_name = _as_text(values["UserName"]).strip()
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
                    setattr(user, attr, _as_text(values[api]))
            if "AccessLevel" in values:
                level = _as_text(values["AccessLevel"])
                _check_access_level(level)
                user.access_level = level
            if "Active" in values:
                user.active = _as_bool(values["Active"], "Active")
            if "IsCustomUsername" in values:
                user.is_custom_username = _as_bool(values["IsCustomUsername"], "IsCustomUsername")
            self._apply_extra(user, values)
            user._search = None
            self._changed_users()
            return user

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
            for course in self._courses:
                self._remove_enrollee(course, u)
            for t in user.teams:
                team = self._live_team(t)
                team.members.remove(u)
            for team in self._teams:
                if u in team.leaders:
                    team.leaders.remove(u)
                if u in team.admins:
                    team.admins.remove(u)
            self._users.remove(user)
            self._by_idx[u] = None
            del self._user_by_id[user.id]
            del self._user_by_name[user.user_name.casefold()]
            self._changed_users()

    # -- writes: enrollments ---------------------------------------------------

    def assign_courses(self, user_key: str, course_ids: Iterable[str]) -> list[str]:
        """Assigns courses; already-assigned ones are left as they are. All ids are
        checked before anything changes. Returns the ids newly assigned."""
        with self.lock:
            user = self._need_user(user_key)
            courses = [self._need_course(cid) for cid in course_ids]
            return [c.id for c in courses if self._add_enrollee(c, user.idx)]

    def unassign_course(self, user_key: str, course_id: str) -> None:
        with self.lock:
            user = self._need_user(user_key)
            course = self._need_course(course_id)
            if not self._remove_enrollee(course, user.idx):
                raise TenantError(404, f"user {user_key!r} is not assigned course {course_id!r}")

    def _add_enrollee(self, course: Course, u: int) -> bool:
        arr = course.enrollees
        i = bisect.bisect_left(arr, u)
        if i < len(arr) and arr[i] == u:
            return False
        arr.insert(i, u)
        self._overlay[(course.idx << 32) | u] = self._fresh_state()
        return True

    def _remove_enrollee(self, course: Course, u: int) -> bool:
        arr = course.enrollees
        i = bisect.bisect_left(arr, u)
        if i < len(arr) and arr[i] == u:
            del arr[i]
            self._overlay.pop((course.idx << 32) | u, None)
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
            return self._enrollment(course, user)

    # -- writes: teams -----------------------------------------------------------

    def create_team(self, values: Mapping[str, Any], parent_id: str | None = None) -> Team:
        with self.lock:
            name = _as_text(values.get("Name")).strip()
            if not name:
                raise TenantError(400, "field Name is required")
            parent_key = parent_id or _as_text(values.get("ParentTeamId"))
            parent = self._need_team(parent_key).idx if parent_key else -1
            idx = len(self._team_by_idx)
            team = Team(idx=idx, id=self._new_id("team", idx), name=name,
                        code=_as_text(values.get("TeamCodeForBulkImport")),
                        parent=parent, description=_as_text(values.get("Description")))
            self._teams.append(team)
            self._team_by_idx.append(team)
            self._team_by_id[team.id] = team
            if parent >= 0:
                self._live_team(parent).children.append(idx)
            return team

    def update_team(self, team_id: str, values: Mapping[str, Any]) -> Team:
        with self.lock:
            team = self._need_team(team_id)
            if "Name" in values:
                name = _as_text(values["Name"]).strip()
                if not name:
                    raise TenantError(400, "field Name must not be empty")
                team.name = name
            if "Description" in values:
                team.description = _as_text(values["Description"])
            if "TeamCodeForBulkImport" in values:
                team.code = _as_text(values["TeamCodeForBulkImport"])
            return team

    def delete_team(self, team_id: str) -> None:
        """Deletes a team; its sub-teams move up to the deleted team's parent."""
        with self.lock:
            team = self._need_team(team_id)
            for u in team.members:
                self._by_idx_live(u).teams.remove(team.idx)
            if team.parent >= 0:
                self._live_team(team.parent).children.remove(team.idx)
            for child in team.children:
                self._live_team(child).parent = team.parent
                if team.parent >= 0:
                    self._live_team(team.parent).children.append(child)
            self._teams.remove(team)
            self._team_by_idx[team.idx] = None
            del self._team_by_id[team.id]

    def add_team_members(self, team_id: str, user_ids: Iterable[str]) -> list[str]:
        """Adds members; unknown ids and existing members are ignored (as the API
        does). Returns the ids actually added."""
        with self.lock:
            team = self._need_team(team_id)
            added = []
            for key in user_ids:
                user = self._user_by_id.get(key)
                if user is None or user.idx in team.members:
                    continue
                team.members.append(user.idx)
                user.teams.append(team.idx)
                added.append(user.id)
            return added

    def remove_team_member(self, team_id: str, user_key: str) -> None:
        """Leader/admin roles are independent lists and are left alone."""
        with self.lock:
            team = self._need_team(team_id)
            user = self._need_user(user_key)
            if user.idx not in team.members:
                raise TenantError(404, f"user {user_key!r} is not a member of team {team_id!r}")
            team.members.remove(user.idx)
            user.teams.remove(team.idx)

    def set_team_role(self, team_id: str, role: str, user_key: str, present: bool) -> bool:
        """Adds (present=True) or removes a user from a team's "leaders" or "admins".
        Returns whether anything changed; removing a user without the role is 404."""
        with self.lock:
            team = self._need_team(team_id)
            user = self._need_user(user_key)
            holders = {"leaders": team.leaders, "admins": team.admins}[role]
            if present:
                if user.idx in holders:
                    return False
                holders.append(user.idx)
                return True
            if user.idx not in holders:
                raise TenantError(404, f"user {user_key!r} is not in {role} of team {team_id!r}")
            holders.remove(user.idx)
            return True

    def assign_team_courses(self, team_id: str, course_ids: Iterable[str],
                            include_sub_teams: bool = False) -> None:
        """Assigns courses to a team and enrols its active members (and, with
        ``include_sub_teams``, those of all its descendants)."""
        with self.lock:
            team = self._need_team(team_id)
            courses = [self._need_course(cid) for cid in course_ids]
            targets = [team]
            if include_sub_teams:
                i = 0
                while i < len(targets):
                    targets.extend(self._live_team(t) for t in targets[i].children)
                    i += 1
            for target in targets:
                for course in courses:
                    if course.idx not in target.courses:
                        target.courses.append(course.idx)
                    for u in target.members:
                        if self._by_idx_live(u).active:
                            self._add_enrollee(course, u)

    def unassign_team_course(self, team_id: str, course_id: str) -> None:
        """Removes a course from the team's list; members' enrollments stay."""
        with self.lock:
            team = self._need_team(team_id)
            course = self._need_course(course_id)
            if course.idx not in team.courses:
                raise TenantError(404, f"course {course_id!r} is not assigned to team {team_id!r}")
            team.courses.remove(course.idx)


# ---------------------------------------------------------------------------
# Module-level helpers
# ---------------------------------------------------------------------------


def _check_access_level(level: str) -> None:
    if level not in _ACCESS_RANK:
        raise TenantError(400, f"field AccessLevel must be one of {ACCESS_LEVELS}, got {level!r}")


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
    rng = random.Random(_derive_seed(seed, "enrollees", course))
    picked = rng.sample(range(n_users), k)
    picked.sort()
    return array("i", picked)


def _derived_user_details(seed: int, user: User) -> dict[str, Any]:
    """The detail fields not stored on the user, derived from a hash of its index."""
    h = _mix64(_derive_seed(seed, "user-detail") ^ user.idx)
    city, state, postal, country = _PLACES[h % len(_PLACES)]
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
        "LoginKey": f"https://sandbox.litmos.example/login.aspx?loginkey={(h >> 3) & _M64:016x}",
        "IsCustomUsername": user.is_custom_username,
        "Password": "",
        "SkipFirstLogin": False,
        "TimeZone": _TIMEZONES[(h2 >> 24) % len(_TIMEZONES)],
        "SalesforceId": None,
        "OriginalId": 1_000_000 + user.idx,
        "Street1": f"{(h2 >> 28) % 900 + 1} Main Street" if (h2 >> 38) & 1 else "",
        "Street2": "",
        "City": city,
        "State": state,
        "PostalCode": postal,
        "Country": country,
        "CompanyName": user.brand,
        "JobTitle": _JOB_TITLES[(h2 >> 40) % len(_JOB_TITLES)],
        "Culture": _CULTURES[(h2 >> 44) % len(_CULTURES)],
        "Brand": user.brand,
        "SalesforceContactId": None,
        "SalesforceAccountId": None,
        "CreatedDate": user.created_date,
        "Points": (h2 >> 48) % 5000,
    }
    for i in range(1, 11):
        details[f"CustomField{i}"] = ""
    return details


def enrollment_fields() -> tuple[str, ...]:
    """Attribute names of ``Enrollment`` (for tests that tabulate them)."""
    return tuple(f.name for f in fields(Enrollment))


__all__ = [
    "ACCESS_LEVELS", "COURSE_FIELDS", "COURSE_USER_FIELDS", "MEMBER_FIELDS", "MODULE_FIELDS",
    "NOW_DAY", "TEAM_FIELDS", "USER_COURSE_FIELDS", "USER_FIELDS", "USER_LIST_FIELDS",
    "Course", "Enrollment", "Row", "Team", "Tenant", "TenantError", "TenantSpec", "User",
    "enrollment_fields",
]
