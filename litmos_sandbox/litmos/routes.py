"""Routing: the table of (method, path pattern) -> endpoint, and matching a path
against it (404 against 405)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from litmos_sandbox.litmos.delta import DELTA_ENDPOINTS, delta_handler
from litmos_sandbox.litmos.endpoints import Endpoints
from litmos_sandbox.litmos.request import Call
from litmos_sandbox.litmos.wire import Response

Handler = Callable[[Endpoints, Call], Response]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: tuple[str, ...]  # literal segments, "*" for an id
    handler: Handler
    kind: str = field(default="")


# (method, path pattern, handler, kind). "*" is an id segment; literal routes come
# before the id route they would otherwise shadow.
_ROUTE_TABLE: list[tuple[str, str, Handler]] = [
    ("GET", "users", Endpoints.users_list),
    ("POST", "users", Endpoints.user_create),
    ("GET", "users/paginated", Endpoints.users_paginated),
    ("POST", "users/courses", Endpoints.users_courses_bulk),
    ("GET", "users/*", Endpoints.user_get),
    ("PUT", "users/*", Endpoints.user_update),
    ("DELETE", "users/*", Endpoints.user_delete),
    ("GET", "users/*/teams", Endpoints.user_teams),
    ("GET", "users/*/courses", Endpoints.user_courses),
    ("POST", "users/*/courses", Endpoints.user_courses_assign),
    ("GET", "users/*/courses/*", Endpoints.user_course_get),
    ("DELETE", "users/*/courses/*", Endpoints.user_course_unassign),
    ("GET", "users/*/learningpaths", Endpoints.user_learning_paths),
    ("POST", "users/*/learningpaths", Endpoints.user_learning_paths_assign),
    ("DELETE", "users/*/learningpaths/*", Endpoints.user_learning_path_unassign),
    ("GET", "teams", Endpoints.teams_list),
    ("POST", "teams", Endpoints.team_create),
    ("GET", "teams/*", Endpoints.team_get),
    ("PUT", "teams/*", Endpoints.team_update),
    ("DELETE", "teams/*", Endpoints.team_delete),
    ("GET", "teams/*/teams", Endpoints.sub_teams),
    ("POST", "teams/*/teams", Endpoints.sub_team_create),
    ("GET", "teams/*/users", Endpoints.team_members),
    ("POST", "teams/*/users", Endpoints.team_members_add),
    ("DELETE", "teams/*/users/*", Endpoints.team_member_remove),
    ("GET", "teams/*/leaders", Endpoints.team_leaders),
    ("PUT", "teams/*/leaders/*", Endpoints.team_leader_put),
    ("DELETE", "teams/*/leaders/*", Endpoints.team_leader_delete),
    ("GET", "teams/*/admins", Endpoints.team_admins),
    ("PUT", "teams/*/admins/*", Endpoints.team_admin_put),
    ("DELETE", "teams/*/admins/*", Endpoints.team_admin_delete),
    ("GET", "teams/*/courses", Endpoints.team_courses),
    ("POST", "teams/*/courses", Endpoints.team_courses_assign),
    ("DELETE", "teams/*/courses/*", Endpoints.team_course_unassign),
    ("GET", "courses", Endpoints.courses_list),
    ("GET", "courses/*", Endpoints.course_get),
    ("GET", "courses/*/users", Endpoints.course_users),
    ("GET", "courses/*/modules", Endpoints.course_modules),
    ("GET", "learningpaths", Endpoints.learning_paths_list),
    ("GET", "learningpaths/*", Endpoints.learning_path_get),
    ("GET", "learningpaths/*/users", Endpoints.learning_path_users),
    ("GET", "learningpaths/*/courses", Endpoints.learning_path_courses),
    # The delta (date-range) queries: delta.py
    *(("GET", path, delta_handler(kind, root, item))
      for path, kind, root, item in DELTA_ENDPOINTS),
]


def _kind_label(method: str, pattern: tuple[str, ...]) -> str:
    names = iter(("{id}", "{subId}"))
    return f"{method} /" + "/".join(next(names) if s == "*" else s for s in pattern)


ROUTES: tuple[Route, ...] = tuple(
    Route(m, tuple(p.split("/")), h, _kind_label(m, tuple(p.split("/"))))
    for m, p, h in _ROUTE_TABLE
)
ROUTE_KINDS: tuple[str, ...] = tuple(r.kind for r in ROUTES)


def _fits(pattern: tuple[str, ...], segments: tuple[str, ...]) -> bool:
    return len(pattern) == len(segments) and all(
        p == "*" or p == s for p, s in zip(pattern, segments, strict=True)
    )


def match(method: str,
           segments: tuple[str, ...]) -> tuple[Route | None, tuple[str, ...], bool]:
    """The route for a request, its id parameters, and whether the path exists
    for some method (for 405 against 404)."""
    path_known = False
    for route in ROUTES:
        if not _fits(route.pattern, segments):
            continue
        # A literal segment ("paginated", "courses") beats an id for GET/POST
        # alike; a path fitting a literal route for another method still 405s.
        if route.method == method:
            params = tuple(s for p, s in zip(route.pattern, segments, strict=True) if p == "*")
            return route, params, True
        path_known = True
    return None, (), path_known
