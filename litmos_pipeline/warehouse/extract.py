"""Stream Litmos lists into a sync's staging tables, page by page.

Each function takes the Litmos client and a staging connection and returns what it did;
the Dagster assets only wire them up and report.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TypeVar
from urllib.parse import quote

import duckdb

from litmos_pipeline.litmos.client import LitmosClient
from litmos_pipeline.litmos.endpoints import (
    COURSE_ENROLLMENTS,
    COURSES,
    ID_FIELD,
    TEAM_MEMBERS,
    TEAM_ROLE_PATHS,
    TEAMS,
    USERS,
    RecordSpec,
)
from litmos_pipeline.litmos.prefetch import read_ahead
from litmos_pipeline.litmos.records import Page, is_json, parse_page
from litmos_pipeline.warehouse.loader import MissingIdError, RawLoader, check_ids

Progress = Callable[[str], None]
L = TypeVar("L")


@dataclass
class LoadResult:
    rows: int = 0
    parents: int = 0
    missing_ids: list[str] = field(default_factory=list)


def load_list(con: duckdb.DuckDBPyConnection, client: LitmosClient, spec: RecordSpec,
              path: str, what: str) -> LoadResult:
    loader = RawLoader(con, spec)
    counter = JsonPageCounter(con)
    for _, page in _read_ahead(client, [path], lambda p: _pages(client, counter, p, what)):
        loader.add_page(page, where=what)
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
    team_ids = _ids_in_order(con, "raw_teams")
    lists = [(f"/teams/{quote(team_id, safe='')}/{TEAM_ROLE_PATHS[role]}",
              f"team {team_id} {TEAM_ROLE_PATHS[role]}", {"team_id": team_id, "role": role})
             for team_id in team_ids for role in roles]
    loader = RawLoader(con, TEAM_MEMBERS)
    _load_lists(loader, client, lists, progress, "teams", per_parent=len(tuple(roles)))
    return LoadResult(rows=loader.rows, parents=len(team_ids))


def load_course_enrollments(con: duckdb.DuckDBPyConnection, client: LitmosClient, *,
                            progress: Progress | None = None) -> LoadResult:
    course_ids = _ids_in_order(con, "raw_courses")
    lists = [(f"/courses/{quote(course_id, safe='')}/users", f"course {course_id} users",
              {"course_id": course_id}) for course_id in course_ids]
    loader = RawLoader(con, COURSE_ENROLLMENTS)
    _load_lists(loader, client, lists, progress, "courses")
    return LoadResult(rows=loader.rows, parents=len(course_ids))


def _ids_in_order(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    # In id order: members and enrollees are then staged clustered by their parent's id,
    # which is the order the c1z writer reads grants in (see snapshot.build_and_check).
    sql = f"SELECT DISTINCT id FROM {table} ORDER BY id"
    return [row[0] for row in con.execute(sql).fetchall()]


ListRef = tuple[str, str, dict[str, str]]  # path, what (for errors), context columns


def _load_lists(loader: RawLoader, client: LitmosClient, lists: list[ListRef],
                progress: Progress | None, noun: str, per_parent: int = 1) -> None:
    """Every page of many lists into one raw table, the fetching running ahead."""
    parents, reported = len(lists) // per_parent, 0
    counter = JsonPageCounter(loader.con)
    for n, page in _read_ahead(client, lists,
                               lambda ref: _pages(client, counter, ref[0], ref[1])):
        done = n // per_parent  # a parent's lists are complete once the next one starts
        if done > reported:
            _report(progress, noun, done, parents, loader.rows + loader.pending)
            reported = done
        _, what, context = lists[n]
        loader.add_page(page, context, where=what)
    loader.flush()
    _report(progress, noun, parents, parents, loader.rows)


def _pages(client: LitmosClient, counter: JsonPageCounter, path: str,
           what: str) -> Iterator[Page]:
    """A list's pages with their ids checked; JSON array pages are counted, not decoded,
    so what waits in the read-ahead queue is their text alone."""
    start = 0
    for page in client.pages(path, what, parse=counter.parse):
        check_ids(page.records, ID_FIELD, f"{what} (start={start})")
        start += page.rows
        yield page


class JsonPageCounter:
    """Counts a JSON array page's records (and finds one without an Id) in DuckDB.

    Decoding 2M records with json.loads only to count them held the GIL for seconds and
    left ~20 MB of fragments in the run process; DuckDB parses the page without either,
    on a cursor of its own per fetch thread. Anything else goes to `parse_page`.
    """

    SQL = ("SELECT len(l), list_position(list_transform(l, lambda r: coalesce(r.\"Id\", '') = ''),"
           " true) FROM (SELECT from_json($1, '[{\"Id\": \"VARCHAR\"}]') AS l)")

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = con
        self._local = threading.local()

    def parse(self, body: bytes, content_type: str | None, what: str) -> Page:
        text = _json_text(body, content_type)
        if text is None:
            return parse_page(body, content_type, what)
        try:
            row = self._cursor().execute(self.SQL, [text]).fetchone()
        except (duckdb.InvalidInputException, duckdb.ConversionException):
            # Not an array of objects: parse_page says what is wrong.
            return parse_page(body, content_type, what)
        rows, missing = (int(row[0] or 0), row[1]) if row else (0, None)
        if missing:
            raise MissingIdError(f"Litmos returned a record without {ID_FIELD} in {what} "
                                 f"(record #{missing} of the page)")
        return Page([], decoded=True, json_array=text, rows=rows)

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        cursor = getattr(self._local, "cursor", None)
        if cursor is None:
            cursor = self._local.cursor = self._con.cursor()
        return cursor


def _json_text(body: bytes, content_type: str | None) -> str | None:
    """The body of a JSON array page as text, or None if it is anything else."""
    if not is_json(content_type) or body[:64].lstrip(b" \t\r\n\xef\xbb\xbf")[:1] != b"[":
        return None
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None


def _read_ahead(client: LitmosClient, lists: Sequence[L],
                fetch: Callable[[L], Iterator[Page]]) -> Iterator[tuple[int, Page]]:
    """read_ahead, passing the client's retry messages on from the caller's thread."""
    report = client.on_progress
    held: queue.SimpleQueue[str] = queue.SimpleQueue()

    def relay() -> None:
        while not held.empty():
            message = held.get()
            if report:
                report(message)

    client.on_progress = held.put
    try:
        yield from read_ahead(lists, fetch, relay=relay)
    finally:
        client.on_progress = report
        relay()


def _report(progress: Progress | None, noun: str, done: int, total: int, rows: int) -> None:
    # Every 10% (and the last one): enough to follow a long sync without flooding the log.
    step = max(1, total // 10)
    if progress and (done % step == 0 or done == total):
        progress(f"{done}/{total} {noun} read, {rows} rows so far")
