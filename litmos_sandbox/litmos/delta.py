"""Litmos' delta (date-range) endpoints, ``GET /org/...?since=&to=``, and the sandbox
controls that drive them (``/_sandbox/mutate``, ``login``, ``delta-removals``, ``clock``,
``delete-course``).

The records come from ``Tenant.delta_page()`` (``tenant/history.py`` states the rules);
this module reads the window, pages and renders like any list (XML or JSON, the same
key, source, faults and rate limit).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from litmos_sandbox.litmos.request import Call
from litmos_sandbox.litmos.tenant import DELTA_FIELDS, ManualClock, Tenant, TenantError
from litmos_sandbox.litmos.tenant.changes import stamp
from litmos_sandbox.litmos.wire import JSON_TYPE, Response, json_bytes

if TYPE_CHECKING:  # endpoints.py does not import this module: no circle
    from litmos_sandbox.litmos.endpoints import Endpoints

MAX_WINDOW = timedelta(days=7)
WINDOW_FORMAT = "%Y-%m-%d %H:%M:%S"
_WINDOW_RE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")

# (path below /v1.svc, delta kind, list element, item element)
DELTA_ENDPOINTS: tuple[tuple[str, str, str, str], ...] = (
    ("org/users/details", "users", "Users", "User"),
    ("org/users/logins", "logins", "Users", "User"),
    ("org/teams", "teams", "Teams", "Team"),
    ("org/teams/users", "team_users", "TeamUsers", "TeamUser"),
    ("org/users/courses", "user_courses", "UserCourses", "UserCourse"),
    ("org/results/details", "results", "UserResults", "UserResult"),
    ("org/courses", "courses", "Courses", "Course"),
)


def parse_when(raw: str | None, name: str) -> datetime:
    """A ``since``/``to`` value: ``YYYY-MM-DD HH:MM:SS``, taken as UTC."""
    if raw is None or not raw.strip():
        raise TenantError(400, f"query parameter {name} is required "
                               f"(format YYYY-MM-DD HH:MM:SS, UTC)")
    text = raw.strip()
    try:
        if not _WINDOW_RE.match(text):
            raise ValueError(text)
        return datetime.strptime(text, WINDOW_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        raise TenantError(400, f"query parameter {name} must be YYYY-MM-DD HH:MM:SS "
                               f"(UTC), got {raw!r}") from None


def window(query: Mapping[str, str]) -> tuple[datetime, datetime]:
    """``[since, to)`` of a delta query; 400 unless ``since < to <= since + 7 days``."""
    since = parse_when(query.get("since"), "since")
    to = parse_when(query.get("to"), "to")
    if to <= since:
        raise TenantError(400, "query parameter to must be later than since")
    if to - since > MAX_WINDOW:
        raise TenantError(400, "the range from since to to must be 7 days or less")
    return since, to


def delta_handler(kind: str, root: str, item: str) -> Callable[[Endpoints, Call], Response]:
    fields = DELTA_FIELDS[kind]

    def handle(endpoints: Endpoints, call: Call) -> Response:
        since, to = window(call.query)
        start, limit = call.paging()
        rows = endpoints.tenant.delta_page(kind, since, to, start, limit)
        return endpoints._list(call, root, item, fields, rows)

    handle.__name__ = f"delta_{kind}"
    return handle


def _ok(value: Any) -> Response:
    return Response(200, json_bytes(value), JSON_TYPE)


def _clock_state(tenant: Tenant) -> dict[str, Any]:
    clock = tenant.changes.clock
    return {"now": stamp(tenant.changes.now()), "frozen": isinstance(clock, ManualClock)}


def _set_clock(tenant: Tenant, data: Mapping[str, Any]) -> dict[str, Any]:
    """``{"now": "YYYY-MM-DD HH:MM:SS"}`` freezes the change clock there, ``{"now":
    null}`` returns to the real time, ``{"advance_seconds": s}`` moves a frozen one."""
    unknown = set(data) - {"now", "advance_seconds"}
    if unknown:
        raise ValueError(f"unknown clock settings {sorted(unknown)}")
    if "now" in data:
        if data["now"] is None:
            tenant.set_clock(None)
        else:
            tenant.set_clock(ManualClock(parse_when(str(data["now"]), "now")))
    if "advance_seconds" in data:
        clock = tenant.changes.clock
        if not isinstance(clock, ManualClock):
            raise ValueError("the clock is real: freeze it with {\"now\": ...} first")
        clock.advance(float(data["advance_seconds"]))
    return _clock_state(tenant)


def delta_control(tenant: Tenant, method: str, name: str,
                  data: Mapping[str, Any]) -> Response | None:
    """The delta controls; None when ``(method, name)`` is not one of them."""
    if (method, name) == ("POST", "mutate"):
        return _ok(tenant.mutate(**data))
    if (method, name) == ("POST", "login"):
        user_id = str(data["user_id"])
        return _ok({"user_id": user_id, "last_login": tenant.record_login(user_id)})
    if (method, name) == ("GET", "delta-removals"):
        return _ok({"mode": tenant.delta_removals})
    if (method, name) == ("POST", "delta-removals"):
        tenant.set_delta_removals(str(data["mode"]))
        return _ok({"mode": tenant.delta_removals})
    if (method, name) == ("GET", "clock"):
        return _ok(_clock_state(tenant))
    if (method, name) == ("POST", "clock"):
        return _ok(_set_clock(tenant, data))
    if (method, name) == ("POST", "delete-course"):
        tenant.delete_course(str(data["course_id"]))
        return _ok({"deleted": data["course_id"]})
    return None


class DeltaControls:
    """``LitmosSandbox``'s Python side of the delta controls (as ``/_sandbox/...``)."""

    tenant: Tenant

    def mutate(self, seed: int = 1, **counts: int) -> dict[str, Any]:
        """Random changes through the tenant's write paths (``Tenant.mutate``)."""
        return self.tenant.mutate(seed, **counts)

    def record_login(self, user_id: str) -> str:
        """The user signs in now; returns the new ``LastLogin``."""
        return self.tenant.record_login(user_id)

    def set_delta_removals(self, mode: str) -> None:
        """``active_false`` (removals reported with Active=false) or ``silent``."""
        self.tenant.set_delta_removals(mode)

    @property
    def delta_removals(self) -> str:
        return self.tenant.delta_removals

    def set_clock(self, clock: Callable[[], datetime] | None) -> None:
        """The clock stamping changes (None: the real UTC time), e.g. a ``ManualClock``."""
        self.tenant.set_clock(clock)
