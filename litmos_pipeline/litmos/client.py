"""The Litmos REST API over httpx: paging, pacing, retries, and the calls we make.

Knows nothing of Dagster or DuckDB: it yields pages of records and performs writes.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from pydantic import SecretStr

from litmos_pipeline.litmos.budget import SYNC, KeyBudget
from litmos_pipeline.litmos.ids import check_id, path_segment
from litmos_pipeline.litmos.pacing import Pacer
from litmos_pipeline.litmos.records import (
    LitmosParseError,
    Page,
    Record,
    parse_page,
    parse_record,
    xml_id_list,
    xml_record,
)

PAGE_SIZE = 1000
PageParser = Callable[[bytes, str | None, str], Page]  # body, Content-Type, what
RETRYABLE_STATUS = {429, 500, 502, 503, 504}
RETRYABLE_ERRORS = (httpx.TransportError,)
XML_BODY = {"Content-Type": "application/xml; charset=utf-8"}
# The most of one answer we read. A page of 1,000 course enrollees is well under 1 MB;
# 64 MiB is far above any page Litmos sends, and low enough that a broken or hostile
# answer cannot fill the run process's memory (read-ahead holds several pages at once).
MAX_ANSWER_BYTES = 64 * 1024 * 1024

log = logging.getLogger(__name__)


# The key's documented limit (requests a minute); Litmos answers 503 beyond it.
KEY_REQUESTS_PER_MINUTE = 100


class LitmosError(RuntimeError):
    """A call to Litmos that failed for good; says what was being fetched or changed.

    `rate_limited`: it gave up while Litmos answered 503, its answer to a key over its
    limit (C1 is told so with a RateLimitDescription). `reason`: the last attempt's
    failure when retries ran out ("HTTP 503", "ConnectError", ...)."""

    def __init__(self, message: str, *, status: int | None = None, retryable: bool = False,
                 rate_limited: bool = False, reason: str | None = None):
        super().__init__(message)
        self.status = status
        self.retryable = retryable
        self.rate_limited = rate_limited
        self.reason = reason


class LitmosAuthError(LitmosError):
    pass


class LitmosNotFound(LitmosError):
    pass


class LitmosTooLarge(LitmosError):
    """An answer over MAX_ANSWER_BYTES: not read further; asking again would not help."""


@dataclass(frozen=True, slots=True)
class Answer:
    """A response read to its end (within MAX_ANSWER_BYTES)."""

    status_code: int
    headers: httpx.Headers
    content: bytes


@dataclass
class CallStats:
    """What a client has done, for run metadata and benchmarks."""

    requests: int = 0
    pages: int = 0
    records: int = 0
    retries: int = 0
    rate_limited: int = 0
    waited_s: float = 0.0  # sleeping to stay under the rate limit or backing off
    http_s: float = 0.0  # inside HTTP calls (the API's time, plus transfer), summed
    # Wall time with any request or wait under way; below waited_s + http_s when
    # requests overlap.
    api_busy_s: float = 0.0
    by_status: dict[int, int] = field(default_factory=dict)

    def as_metadata(self) -> dict[str, Any]:
        return {
            "api_requests": self.requests,
            "api_pages": self.pages,
            "api_retries": self.retries,
            "api_503s": self.rate_limited,
            "api_wait_s": round(self.waited_s, 2),
            "api_http_s": round(self.http_s, 2),
            "api_busy_s": round(self.api_busy_s, 2),
        }


class LitmosClient:
    """One API key's view of Litmos.

    Every request carries the `apikey` header and `source`; lists are read in pages of
    1000; responses are parsed by their Content-Type, so XML and JSON both work. The key
    is held as a SecretStr and set on each request, never in the httpx client's default
    headers, so no repr of this client or of its httpx client shows it.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | SecretStr,
        source: str,
        *,
        requests_per_minute: float | None = 90.0,
        burst: int = 1,
        budget: KeyBudget | None = None,
        lane: str = SYNC,
        max_retries: int = 6,
        timeout_s: float = 60.0,
        backoff_base_s: float = 1.0,
        backoff_max_s: float = 60.0,
        prefer_json: bool = True,
        max_answer_bytes: int = MAX_ANSWER_BYTES,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        on_progress: Callable[[str], None] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.source = source
        self.max_retries = max_retries
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.prefer_json = prefer_json
        self.max_answer_bytes = max_answer_bytes
        self.stats = CallStats()
        self._sleep = sleep
        self.on_progress = on_progress
        self._pacer = Pacer(requests_per_minute, burst=burst, sleep=sleep)
        # The key's budget, shared with the project's other processes (see litmos.budget).
        self._budget = budget
        self._lane = lane
        self._api_key = api_key if isinstance(api_key, SecretStr) else SecretStr(api_key)
        # Pages may be fetched from several threads at once (see litmos.prefetch).
        self._lock = threading.Lock()
        self._busy = 0
        self._busy_since = 0.0
        self._http = httpx.Client(
            headers={"Accept": "application/json, application/xml"},
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 10.0)),
            transport=transport,
        )

    def __repr__(self) -> str:
        return f"LitmosClient(base_url={self.base_url!r}, source={self.source!r})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> LitmosClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reads ---------------------------------------------------------------------------

    def pages(self, path: str, what: str, params: Mapping[str, str] | None = None, *,
              parse: PageParser = parse_page) -> Iterator[Page]:
        """Each page of a list endpoint, undecoded to text; the last is the first short one.

        A JSON array page keeps its body, so a bulk loader can hand it to DuckDB whole
        instead of turning every value into a Python string. `parse` turns a body into
        a Page; a bulk loader may count a JSON page without decoding it in Python.
        """
        start = 0
        while True:
            page_params = {**(params or {}), "start": str(start), "limit": str(PAGE_SIZE)}
            where = f"{what} (start={start})"
            response = self.request("GET", path, what=where, params=page_params)
            page = parse(response.content, response.headers.get("content-type"), where)
            with self._lock:
                self.stats.pages += 1
                self.stats.records += page.rows
            yield page
            if page.rows < PAGE_SIZE:
                return
            start += page.rows

    def iter_pages(self, path: str, what: str,
                   params: Mapping[str, str] | None = None) -> Iterator[list[Record]]:
        """Each page of a list endpoint as records of text."""
        for page in self.pages(path, what, params):
            yield page.text_records()

    def get_one(self, path: str, what: str) -> Record | None:
        """A single record, or None when Litmos answers 404."""
        try:
            response = self.request("GET", path, what=what)
        except LitmosNotFound:
            return None
        return parse_record(response.content, response.headers.get("content-type"), what)

    def list_all(self, path: str, what: str) -> list[Record]:
        """A whole (small) list in memory: for lookups, never for a tenant-sized list."""
        return [record for page in self.iter_pages(path, what) for record in page]

    # -- writes (provisioning) -------------------------------------------------------------
    # Every id goes into a path through path_segment: a refused id sends no request.

    def assign_course(self, user_id: str, course_id: str, *, send_message: bool) -> None:
        self._assign(user_id, "courses", "Courses", "Course", "course", course_id,
                     send_message)

    def unassign_course(self, user_id: str, course_id: str) -> bool:
        """False when the user did not have the course (Litmos answers 404)."""
        return self._unassign(user_id, "courses", "course", course_id)

    def assign_learning_path(self, user_id: str, path_id: str, *, send_message: bool) -> None:
        # The body's outer element is not documented: <LearningPaths>, as for courses.
        self._assign(user_id, "learningpaths", "LearningPaths", "LearningPath",
                     "learning path", path_id, send_message)

    def unassign_learning_path(self, user_id: str, path_id: str) -> bool:
        """False when the user did not have the learning path (Litmos answers 404)."""
        return self._unassign(user_id, "learningpaths", "learning path", path_id)

    def _assign(self, user_id: str, collection: str, outer: str, item: str, noun: str,
                item_id: str, send_message: bool) -> None:
        """POST /users/{id}/<collection> with the item's id in the body."""
        path = f"/users/{path_segment(user_id, 'user id')}/{collection}"
        check_id(item_id, f"{noun} id")  # goes in the body, but is held to the same rule
        self.request("POST", path, what=f"assign {noun} {item_id} to user {user_id}",
                     params={"sendmessage": _flag(send_message)},
                     xml=xml_id_list(outer, item, [item_id]))

    def _unassign(self, user_id: str, collection: str, noun: str, item_id: str) -> bool:
        path = (f"/users/{path_segment(user_id, 'user id')}"
                f"/{collection}/{path_segment(item_id, f'{noun} id')}")
        try:
            self.request("DELETE", path, what=f"unassign {noun} {item_id} from user {user_id}")
        except LitmosNotFound:
            return False
        return True

    def add_team_member(self, team_id: str, user_id: str) -> None:
        path = f"/teams/{path_segment(team_id, 'team id')}/users"
        check_id(user_id, "user id")  # goes in the body, but is held to the same rule
        self.request("POST", path, what=f"add user {user_id} to team {team_id}",
                     xml=xml_id_list("Users", "User", [user_id]))

    def remove_team_member(self, team_id: str, user_id: str) -> bool:
        path = (f"/teams/{path_segment(team_id, 'team id')}"
                f"/users/{path_segment(user_id, 'user id')}")
        try:
            self.request("DELETE", path, what=f"remove user {user_id} from team {team_id}")
        except LitmosNotFound:
            return False
        return True

    def set_team_role(self, team_id: str, role: str, user_id: str, *, present: bool) -> bool:
        """PUT or DELETE /teams/{team}/leaders|admins/{user}; False on a 404 delete."""
        collection = _role_collection(role)
        path = (f"/teams/{path_segment(team_id, 'team id')}"
                f"/{collection}/{path_segment(user_id, 'user id')}")
        action = "make" if present else "remove"
        what = f"{action} user {user_id} {role} of team {team_id}"
        try:
            self.request("PUT" if present else "DELETE", path, what=what)
        except LitmosNotFound:
            if present:
                raise
            return False
        return True

    def create_user(self, user: Mapping[str, Any], *, send_message: bool) -> Record:
        response = self.request("POST", "/users", what=f"create user {user.get('UserName')}",
                                params={"sendmessage": _flag(send_message)},
                                xml=xml_record("User", dict(user)))
        return parse_record(response.content, response.headers.get("content-type"),
                            "created user")

    def update_user(self, user_id: str, record: Mapping[str, Any]) -> None:
        """PUT /users/{id} with the whole record, its fields in the order given (Litmos
        ignores an update whose fields are out of its documented order)."""
        if record.get("Id") != user_id:
            raise ValueError(f"the record's Id must be the path's user id {user_id!r}")
        path = f"/users/{path_segment(user_id, 'user id')}"
        self.request("PUT", path, what=f"update user {user_id}",
                     xml=xml_record("User", dict(record)))

    # -- transport -------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        what: str,
        params: Mapping[str, str] | None = None,
        xml: bytes | None = None,
    ) -> Answer:
        """One logical call, paced and retried; raises LitmosError naming `what`."""
        query = {"source": self.source, **(params or {})}
        if self.prefer_json:
            query.setdefault("format", "json")
        url = f"{self.base_url}{path}"
        attempt = 0
        while True:
            with self._api_busy():
                waited = self._pacer.wait()
                if self._budget is not None:
                    waited += self._budget.acquire(self._lane)
                sent = time.monotonic()
                too_large: LitmosTooLarge | None = None
                try:
                    response = self._send(method, url, query, xml, what)
                except RETRYABLE_ERRORS as exc:
                    response, reason = None, type(exc).__name__
                except LitmosTooLarge as exc:
                    response, too_large = None, exc
                took = time.monotonic() - sent
            with self._lock:
                self.stats.requests += 1
                self.stats.waited_s += waited
                self.stats.http_s += took
                if response is not None:
                    status = response.status_code
                    self.stats.by_status[status] = self.stats.by_status.get(status, 0) + 1
                    self.stats.rate_limited += status == 503
            if too_large is not None:
                raise too_large
            retry_after = None
            if response is not None:
                if status < 400:
                    return response
                if status not in RETRYABLE_STATUS:
                    raise _status_error(status, what)
                reason = f"HTTP {status}"
                retry_after = _retry_after_s(response)
            if attempt >= self.max_retries:
                raise LitmosError(
                    f"Litmos {what}: gave up after {attempt + 1} attempts (last: {reason})",
                    retryable=True, rate_limited=reason == "HTTP 503", reason=reason,
                )
            delay = self._backoff(attempt, retry_after)
            attempt += 1
            self._progress(f"Litmos {what}: {reason}, retry {attempt} in {delay:.1f}s")
            with self._api_busy():
                self._sleep(delay)
            with self._lock:
                self.stats.retries += 1
                self.stats.waited_s += delay

    def _send(self, method: str, url: str, query: Mapping[str, str], xml: bytes | None,
              what: str) -> Answer:
        """One HTTP exchange, its body read to the end but never past MAX_ANSWER_BYTES."""
        headers = {"apikey": self._api_key.get_secret_value()}
        if xml is not None:
            headers.update(XML_BODY)
        with self._http.stream(method, url, params=query, content=xml,
                               headers=headers) as response:
            content = _read_capped(response, what, self.max_answer_bytes)
            return Answer(response.status_code, response.headers, content)

    @contextmanager
    def _api_busy(self) -> Iterator[None]:
        """Time with at least one request (or pacing or backoff wait) under way."""
        with self._lock:
            if not self._busy:
                self._busy_since = time.monotonic()
            self._busy += 1
        try:
            yield
        finally:
            with self._lock:
                self._busy -= 1
                if not self._busy:
                    self.stats.api_busy_s += time.monotonic() - self._busy_since

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.backoff_max_s)
        ceiling = min(self.backoff_max_s, self.backoff_base_s * 2**attempt)
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    def _progress(self, message: str) -> None:
        log.info(message)
        if self.on_progress:
            self.on_progress(message)


def _status_error(status: int, what: str) -> LitmosError:
    if status == 401:
        return LitmosAuthError(
            f"Litmos {what}: 401 Unauthorized — check LITMOS_API_KEY and LITMOS_BASE_URL",
            status=status,
        )
    if status == 404:
        return LitmosNotFound(f"Litmos {what}: 404 Not Found", status=status)
    return LitmosError(f"Litmos {what}: HTTP {status}", status=status)


def _read_capped(response: httpx.Response, what: str, cap: int) -> bytes:
    """The (decoded) body; raises LitmosTooLarge as soon as it is known to exceed `cap`."""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        raise _too_large(what, cap, f"it declares {int(declared)} bytes")
    chunks, size = [], 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > cap:
            raise _too_large(what, cap, "stopped reading there")
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(what: str, cap: int, detail: str) -> LitmosTooLarge:
    return LitmosTooLarge(f"Litmos {what}: answer larger than {cap:,} bytes ({detail}); "
                          "not read further")


def _retry_after_s(response: Answer) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _role_collection(role: str) -> str:
    collections = {"leader": "leaders", "admin": "admins"}
    if role not in collections:
        raise ValueError(f"unknown team role {role!r}")
    return collections[role]


__all__ = [
    "Answer",
    "CallStats",
    "LitmosAuthError",
    "LitmosClient",
    "LitmosError",
    "LitmosNotFound",
    "LitmosParseError",
    "LitmosTooLarge",
    "PAGE_SIZE",
    "Page",
]
