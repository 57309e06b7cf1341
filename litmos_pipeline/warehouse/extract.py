"""Stream Litmos lists into a sync's staging tables, page by page.

Each function takes the Litmos client and a staging connection and returns what it did;
the Dagster assets only wire them up and report.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import quote

import duckdb

from litmos_pipeline.litmos.client import LitmosClient
from litmos_pipeline.litmos.endpoints import (
    COURSE_ENROLLMENTS,
    COURSES,
    TEAM_MEMBERS,
    TEAM_ROLE_PATHS,
    TEAMS,
    USERS,
    RecordSpec,
)
from litmos_pipeline.warehouse.loader import RawLoader

Progress = Callable[[str], None]


@dataclass
class LoadResult:
    rows: int = 0
    parents: int = 0
    missing_ids: list[str] = field(default_factory=list)


def load_list(con: duckdb.DuckDBPyConnection, client: LitmosClient, spec: RecordSpec,
              path: str, what: str) -> LoadResult:
    loader = RawLoader(con, spec)
    start = 0
    for page in client.iter_pages(path, what, raw=True):
        loader.add(page, where=f"{what} start={start}")
        start += len(page)
    loader.flush()
    return LoadResult(rows=loader.rows)


def load_users(con: duckdb.DuckDBPyConnection, client: LitmosClient) -> LoadResult:
    return load_list(con, client, USERS, "/users", "users")


def load_teams(con: duckdb.DuckDBPyConnection, client: LitmosClient) -> LoadResult:
    return load_list(con, client, TEAMS, "/teams", "teams")


def load_courses(con: duckdb.DuckDBPyConnection, client: LitmosClient,
                 course_ids: Iterable[str] = ()) -> LoadResult:
    """All courses, or only the listed ids (one GET each); unknown ids are reported."""
    wanted = list(dict.fromkeys(course_ids))
    if not wanted:
        return load_list(con, client, COURSES, "/courses", "courses")
    loader = RawLoader(con, COURSES)
    result = LoadResult()
    for course_id in wanted:
        record = client.get_one(f"/courses/{quote(course_id, safe='')}", f"course {course_id}")
        if record is None:
            result.missing_ids.append(course_id)
            continue
        loader.add([record], where=f"course {course_id}")
    loader.flush()
    result.rows = loader.rows
    return result


def load_team_members(con: duckdb.DuckDBPyConnection, client: LitmosClient, *,
                      roles: Iterable[str], progress: Progress | None = None) -> LoadResult:
    """Members (and leaders, admins) of every staged team, one role column."""
    team_ids = [row[0] for row in con.execute("SELECT DISTINCT id FROM raw_teams").fetchall()]
    loader = RawLoader(con, TEAM_MEMBERS)
    for n, team_id in enumerate(team_ids, 1):
        for role in roles:
            path = f"/teams/{quote(team_id, safe='')}/{TEAM_ROLE_PATHS[role]}"
            what = f"team {team_id} {TEAM_ROLE_PATHS[role]}"
            for page in client.iter_pages(path, what, raw=True):
                loader.add(page, {"team_id": team_id, "role": role}, where=what)
        _report(progress, "teams", n, len(team_ids), loader.rows)
    loader.flush()
    return LoadResult(rows=loader.rows, parents=len(team_ids))


def load_course_enrollments(con: duckdb.DuckDBPyConnection, client: LitmosClient, *,
                            progress: Progress | None = None) -> LoadResult:
    course_ids = [r[0] for r in con.execute("SELECT DISTINCT id FROM raw_courses").fetchall()]
    loader = RawLoader(con, COURSE_ENROLLMENTS)
    for n, course_id in enumerate(course_ids, 1):
        what = f"course {course_id} users"
        for page in client.iter_pages(f"/courses/{quote(course_id, safe='')}/users", what,
                                      raw=True):
            loader.add(page, {"course_id": course_id}, where=what)
        _report(progress, "courses", n, len(course_ids), loader.rows)
    loader.flush()
    return LoadResult(rows=loader.rows, parents=len(course_ids))


def _report(progress: Progress | None, noun: str, done: int, total: int, rows: int) -> None:
    # Every 10% (and the last one): enough to follow a long sync without flooding the log.
    step = max(1, total // 10)
    if progress and (done % step == 0 or done == total):
        progress(f"{done}/{total} {noun} read, {rows} rows so far")
