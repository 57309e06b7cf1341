"""A Litmos REST API stand-in: a real HTTP/1.1 server on loopback over a ``Tenant``.

Serves ``/v1.svc/...`` like Litmos (XML by default, JSON with ``format=json``,
``apikey`` header, ``source`` parameter, ``start``/``limit`` paging capped at 1000,
a per-key requests-per-minute limit answered with 503) and can inject faults
(503/504, latency, slow answers, dropped connections, bodies cut half way, malformed
pages, a page repeating the previous page's ids, 401 once the key is revoked, a course
deleted between the course list and its enrollee list). ``/_sandbox/...`` holds control
and inspection endpoints that need no key.

Python use::

    with LitmosSandbox(TenantSpec.preset("small"), rate_limit_per_minute=None) as sb:
        httpx.get(f"{sb.base_url}/users", params={"source": "t"},
                  headers={"apikey": sb.api_key})

CLI use: ``main(["--preset", "small", "--port", "0"])`` prints one JSON line
``{"base_url", "api_key", "pid"}`` when ready and serves until SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import collections
import hmac
import ipaddress
import json
import os
import random
import re
import signal
import socket
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from litmos_sandbox.litmos.tenant import (
    COURSE_FIELDS,
    COURSE_USER_FIELDS,
    MEMBER_FIELDS,
    MODULE_FIELDS,
    TEAM_FIELDS,
    USER_COURSE_FIELDS,
    USER_FIELDS,
    USER_LIST_FIELDS,
    Row,
    Tenant,
    TenantError,
    TenantSpec,
)

BASE_PATH = "/v1.svc"
CONTROL_PREFIX = "/_sandbox/"
DEFAULT_API_KEY = "sandbox-key"
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_SOURCE_LEN = 50
MAX_API_KEY_LEN = 50
BULK_MAX_USERS = 25
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
XML_TYPE = "application/xml; charset=utf-8"
JSON_TYPE = "application/json; charset=utf-8"
TEXT_TYPE = "text/plain; charset=utf-8"
# "cut": Content-Length promises the whole body, half is sent, the socket is closed.
# "malformed": a 200 whose body (length matching) does not parse.
# "repeat": a list page (start > 0) answered with the previous page's rows.
# "401": answered as if the key were revoked (with ``after``: half way through a sync).
FAULT_KINDS = ("503", "504", "drop", "slow", "cut", "malformed", "repeat", "401")

# ---------------------------------------------------------------------------
# Fault configuration
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class FaultRule:
    """A targeted fault: applies to requests whose method matches (None: any) and
    whose path below ``/v1.svc`` starts with ``path_prefix``, with probability
    ``rate``, at most ``count`` times (None: no limit), once ``after`` matching requests
    have been answered normally. Example: fail the next two requests to /users with
    ``FaultRule("503", count=2, path_prefix="/users")``; revoke the key after 20
    requests with ``FaultRule("401", after=20)``."""

    kind: str  # one of FAULT_KINDS; "drop" closes the socket without answering
    count: int | None = None
    rate: float = 1.0
    path_prefix: str = ""
    method: str | None = None
    slow_ms: float = 2000.0
    after: int = 0

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"FaultRule.kind must be one of {FAULT_KINDS}, got {self.kind!r}")
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError(f"FaultRule.rate must be within [0, 1], got {self.rate}")
        if self.count is not None and self.count < 0:
            raise ValueError(f"FaultRule.count must be >= 0 or None, got {self.count}")
        if self.after < 0:
            raise ValueError(f"FaultRule.after must be >= 0, got {self.after}")


@dataclass(frozen=True)
class FaultConfig:
    """Faults for every API request: a fixed ``latency_ms`` before answering, then
    targeted ``rules`` (first that fires wins), then the global shares of spurious
    503s, 504s, dropped connections and slow answers (``slow_ms`` extra). The
    draws come from one RNG seeded with ``seed``."""

    latency_ms: float = 0.0
    error_503_rate: float = 0.0
    error_504_rate: float = 0.0
    drop_rate: float = 0.0
    slow_rate: float = 0.0
    slow_ms: float = 2000.0
    seed: int = 0
    rules: tuple[FaultRule, ...] = ()

    def __post_init__(self) -> None:
        shares = (self.error_503_rate, self.error_504_rate, self.drop_rate, self.slow_rate)
        if any(s < 0 for s in shares) or sum(shares) > 1.0:
            raise ValueError(f"FaultConfig rates must be >= 0 and sum to <= 1, got {shares}")
        if self.latency_ms < 0 or self.slow_ms < 0:
            raise ValueError("FaultConfig.latency_ms and slow_ms must be >= 0")

    @classmethod
    def from_rates(cls, *, fail_rate: float = 0.0, drop_rate: float = 0.0,
                   slow_rate: float = 0.0, slow_ms: float = 2000.0, latency_ms: float = 0.0,
                   seed: int = 0) -> FaultConfig:
        """``fail_rate`` is split evenly between 503 and 504 answers."""
        return cls(latency_ms=latency_ms, error_503_rate=fail_rate / 2,
                   error_504_rate=fail_rate / 2, drop_rate=drop_rate, slow_rate=slow_rate,
                   slow_ms=slow_ms, seed=seed)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FaultConfig:
        known = {"latency_ms", "error_503_rate", "error_504_rate", "drop_rate", "slow_rate",
                 "slow_ms", "seed", "rules", "fail_rate"}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault settings {sorted(unknown)}; known: {sorted(known)}")
        values = {k: v for k, v in data.items() if k not in ("rules", "fail_rate")}
        if "fail_rate" in data:
            values.setdefault("error_503_rate", data["fail_rate"] / 2)
            values.setdefault("error_504_rate", data["fail_rate"] / 2)
        rules = tuple(FaultRule(**r) for r in data.get("rules", ()))
        return cls(**values, rules=rules)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class _FaultInjector:
    """Runtime state of a FaultConfig: the RNG and the rules' remaining counts."""

    def __init__(self, config: FaultConfig) -> None:
        self._lock = threading.Lock()
        self.set(config)

    def set(self, config: FaultConfig) -> None:
        with self._lock:
            self.config = config
            self._rng = random.Random(config.seed)
            self._remaining = [rule.count for rule in config.rules]
            self._skip = [rule.after for rule in config.rules]

    def add_rule(self, rule: FaultRule) -> None:
        with self._lock:
            self.config = replace(self.config, rules=(*self.config.rules, rule))
            self._remaining.append(rule.count)
            self._skip.append(rule.after)

    def draw(self, method: str, api_path: str, start: int = 0) -> tuple[str | None, float]:
        """The fault to inject for one request (one of FAULT_KINDS or None) and the
        slow delay in ms. ``start`` is the request's paging offset: "repeat" needs a
        previous page, so it passes over first pages without being used up."""
        with self._lock:
            cfg = self.config
            for i, rule in enumerate(cfg.rules):
                left = self._remaining[i]
                if left == 0:
                    continue
                if rule.method is not None and rule.method.upper() != method:
                    continue
                if not api_path.startswith(rule.path_prefix):
                    continue
                if rule.kind == "repeat" and start == 0:
                    continue
                if self._skip[i] > 0:
                    self._skip[i] -= 1
                    continue
                if rule.rate < 1.0 and self._rng.random() >= rule.rate:
                    continue
                if left is not None:
                    self._remaining[i] = left - 1
                return rule.kind, rule.slow_ms
            total = cfg.error_503_rate + cfg.error_504_rate + cfg.drop_rate + cfg.slow_rate
            if total <= 0:
                return None, 0.0
            r = self._rng.random()
            for kind, share in (("503", cfg.error_503_rate), ("504", cfg.error_504_rate),
                                ("drop", cfg.drop_rate), ("slow", cfg.slow_rate)):
                if r < share:
                    return kind, cfg.slow_ms
                r -= share
            return None, 0.0

    def remaining(self) -> list[int | None]:
        with self._lock:
            return list(self._remaining)


# ---------------------------------------------------------------------------
# Rate limit and statistics
# ---------------------------------------------------------------------------


class _RateLimiter:
    """At most ``per_minute`` admitted requests per key in any sliding window of
    ``window_seconds``. Rejected requests do not count against the window."""

    def __init__(self, per_minute: int | None, window_seconds: float = 60.0) -> None:
        self._lock = threading.Lock()
        self._hits: dict[str, collections.deque[float]] = {}
        self.configure(per_minute, window_seconds)

    def configure(self, per_minute: int | None, window_seconds: float | None = None) -> None:
        if per_minute is not None and per_minute < 1:
            raise ValueError(f"rate limit must be >= 1 request or None, got {per_minute}")
        with self._lock:
            self.per_minute = per_minute
            if window_seconds is not None:
                if window_seconds <= 0:
                    raise ValueError(f"rate window must be > 0 s, got {window_seconds}")
                self.window_seconds = window_seconds

    def reset(self) -> None:
        with self._lock:
            self._hits.clear()

    def admit(self, key: str, now: float) -> bool:
        with self._lock:
            if self.per_minute is None:
                return True
            hits = self._hits.setdefault(key, collections.deque())
            horizon = now - self.window_seconds
            while hits and hits[0] <= horizon:
                hits.popleft()
            if len(hits) >= self.per_minute:
                return False
            hits.append(now)
            return True


class _Stats:
    def __init__(self, window_seconds: float = 60.0) -> None:
        self._lock = threading.Lock()
        self.window_seconds = window_seconds
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.total = 0
            self.by_kind: collections.Counter[str] = collections.Counter()
            self.by_status: collections.Counter[str] = collections.Counter()
            self.rate_limited = 0
            self.injected: collections.Counter[str] = collections.Counter()
            self.sendmessage: collections.Counter[str] = collections.Counter()
            self.writes: collections.deque[dict[str, Any]] = collections.deque(maxlen=1000)
            self.control_requests = 0
            self._window: collections.deque[float] = collections.deque()
            self.max_in_window = 0
            self.started = time.monotonic()

    def request(self, kind: str, now: float) -> None:
        with self._lock:
            self.total += 1
            self.by_kind[kind] += 1
            window = self._window
            window.append(now)
            horizon = now - self.window_seconds
            while window and window[0] <= horizon:
                window.popleft()
            if len(window) > self.max_in_window:
                self.max_in_window = len(window)

    def status(self, status: int | str) -> None:
        with self._lock:
            self.by_status[str(status)] += 1

    def fault(self, kind: str) -> None:
        with self._lock:
            self.injected[kind] += 1

    def limited(self) -> None:
        with self._lock:
            self.rate_limited += 1

    def write(self, method: str, kind: str, path: str, sendmessage: str | None) -> None:
        with self._lock:
            self.sendmessage["absent" if sendmessage is None else sendmessage.lower()] += 1
            self.writes.append(
                {"method": method, "kind": kind, "path": path, "sendmessage": sendmessage}
            )

    def control(self) -> None:
        with self._lock:
            self.control_requests += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "total_requests": self.total,
                "requests_by_kind": dict(sorted(self.by_kind.items())),
                "statuses": dict(sorted(self.by_status.items())),
                "rate_limited_503s": self.rate_limited,
                "injected_faults": {k: self.injected.get(k, 0) for k in FAULT_KINDS},
                "max_requests_in_window": self.max_in_window,
                "window_seconds": self.window_seconds,
                "sendmessage": dict(sorted(self.sendmessage.items())),
                "writes": list(self.writes),
                "control_requests": self.control_requests,
                "seconds_since_reset": round(time.monotonic() - self.started, 3),
            }


# ---------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------


def _xml_escape(text: str) -> str:
    if "&" in text or "<" in text or ">" in text:
        return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text


_XML_PROLOG = '<?xml version="1.0" encoding="utf-8"?>'
_FieldSpec = tuple[str, str, str, str, str, str]  # open, close, nil, empty, true, false
_SPEC_CACHE: dict[str, _FieldSpec] = {}


def _field_spec(name: str) -> _FieldSpec:
    spec = _SPEC_CACHE.get(name)
    if spec is None:
        o, c = f"<{name}>", f"</{name}>"
        spec = (o, c, f'<{name} i:nil="true"/>', o + c, f"{o}true{c}", f"{o}false{c}")
        _SPEC_CACHE[name] = spec
    return spec


def _xml_row(parts: list[str], item: str, fields: tuple[str, ...], row: Row) -> None:
    parts.append(f"<{item}>")
    append = parts.append
    for name, v in zip(fields, row, strict=True):
        o, c, nil, empty, true, false = _field_spec(name)
        if v.__class__ is str:
            append(o + _xml_escape(v) + c if v else empty)
        elif v is None:
            append(nil)
        elif v is True:
            append(true)
        elif v is False:
            append(false)
        else:
            append(f"{o}{v}{c}")
    parts.append(f"</{item}>")


def xml_list(root: str, item: str, fields: tuple[str, ...], rows: Iterable[Row]) -> bytes:
    parts = [_XML_PROLOG, f'<{root} xmlns:i="{XSI_NS}">']
    for row in rows:
        _xml_row(parts, item, fields, row)
    parts.append(f"</{root}>")
    return "".join(parts).encode("utf-8")


def xml_one(item: str, fields: tuple[str, ...], row: Row) -> bytes:
    parts: list[str] = []
    _xml_row(parts, item, fields, row)
    body = "".join(parts)
    # The namespace declaration goes on the root element itself.
    body = f'<{item} xmlns:i="{XSI_NS}">' + body[len(item) + 2:]
    return (_XML_PROLOG + body).encode("utf-8")


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str | None = None
    drop: bool = False  # close the connection without answering
    cut: bool = False  # promise the whole body, send half, close the connection


def _empty(status: int = 200) -> Response:
    """Litmos answers assign/unassign style writes with no body and no Content-Type."""
    return Response(status)


def _text(status: int, message: str) -> Response:
    return Response(status, message.encode("utf-8"), TEXT_TYPE)


def _malformed(body: bytes) -> bytes:
    """The first half of a good body and a broken tail: complete on the wire (its
    Content-Length matches), unparseable as XML or JSON."""
    return body[: len(body) // 2] + b"<\x00 malformed {"


# ---------------------------------------------------------------------------
# Request bodies
# ---------------------------------------------------------------------------


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _parse_body(body: bytes) -> ET.Element | Any:
    text = body.decode("utf-8-sig", errors="strict").strip() if body else ""
    if not text:
        raise TenantError(400, "request body is empty")
    if text.startswith("<"):
        try:
            return ET.fromstring(text)
        except ET.ParseError as exc:
            raise TenantError(400, f"request body is not well-formed XML: {exc}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise TenantError(400, f"request body is neither XML nor JSON: {exc}") from None


def _xml_value(el: ET.Element) -> str | None:
    if el.get(f"{{{XSI_NS}}}nil") == "true":
        return None
    return el.text or ""


def _object_fields(body: bytes, item: str) -> dict[str, Any]:
    """Fields of one object body: ``<User><UserName>…`` or ``{"UserName": …}``."""
    doc = _parse_body(body)
    if isinstance(doc, ET.Element):
        if _local(doc.tag) != item:
            raise TenantError(400, f"expected a <{item}> body, got <{_local(doc.tag)}>")
        return {_local(child.tag): _xml_value(child) for child in doc}
    if isinstance(doc, dict):
        return doc
    raise TenantError(400, f"expected a {item} object in the body")


def _id_of(entry: Any) -> str:
    if isinstance(entry, str):
        return entry
    if isinstance(entry, dict) and isinstance(entry.get("Id"), str):
        return entry["Id"]
    raise TenantError(400, f"expected an object with an Id, got {entry!r}")


def _ids_from(doc: Any, root: str, item: str) -> list[str]:
    """Ids of ``<Root><Item><Id>…`` (or a single ``<Item>``), or of a JSON array
    ``[{"Id": …}]`` (a single object is accepted too)."""
    if isinstance(doc, ET.Element):
        tag = _local(doc.tag)
        if tag == item:
            items = [doc]
        elif tag == root:
            items = [c for c in doc if _local(c.tag) == item]
        else:
            raise TenantError(400, f"expected a <{root}> body, got <{tag}>")
        ids = []
        for el in items:
            id_el = next((c for c in el if _local(c.tag) == "Id"), None)
            if id_el is None or not (id_el.text or "").strip():
                raise TenantError(400, f"<{item}> without an <Id>")
            ids.append((id_el.text or "").strip())
        return ids
    if isinstance(doc, list):
        return [_id_of(e) for e in doc]
    if isinstance(doc, dict):
        return [_id_of(doc)]
    raise TenantError(400, f"expected a list of {item} ids in the body")


def _bulk_pairs(body: bytes) -> list[tuple[str, list[str]]]:
    """``POST /users/courses``: the body shape is not in litmos-api.md; accepted
    here as ``<Users><User><Id>u</Id><Courses><Course><Id>c</Id>…`` or
    ``[{"Id": "u", "Courses": [{"Id": "c"}]}]``."""
    doc = _parse_body(body)
    pairs: list[tuple[str, list[str]]] = []
    if isinstance(doc, ET.Element):
        if _local(doc.tag) != "Users":
            raise TenantError(400, f"expected a <Users> body, got <{_local(doc.tag)}>")
        for user_el in doc:
            uid = next((c.text or "" for c in user_el if _local(c.tag) == "Id"), "").strip()
            courses_el = next((c for c in user_el if _local(c.tag) == "Courses"), None)
            if not uid or courses_el is None:
                raise TenantError(400, "each <User> needs an <Id> and <Courses>")
            pairs.append((uid, _ids_from(courses_el, "Courses", "Course")))
    elif isinstance(doc, list):
        for entry in doc:
            if not isinstance(entry, dict) or "Courses" not in entry:
                raise TenantError(400, "each entry needs an Id and Courses")
            pairs.append((_id_of(entry), _ids_from(entry["Courses"], "Courses", "Course")))
    else:
        raise TenantError(400, "expected a list of users with courses")
    if len(pairs) > BULK_MAX_USERS:
        raise TenantError(400, f"at most {BULK_MAX_USERS} users per bulk assignment")
    return pairs


# ---------------------------------------------------------------------------
# The application: routing and endpoint handlers (independent of the socket)
# ---------------------------------------------------------------------------


@dataclass
class _Call:
    method: str
    api_path: str  # below /v1.svc, e.g. "/users/abc/courses"
    query: dict[str, str]
    body: bytes
    params: tuple[str, ...] = ()
    kind: str = ""

    @property
    def as_json(self) -> bool:
        return self.query.get("format", "").lower() == "json"

    def paging(self) -> tuple[int, int]:
        start = _int_param(self.query, "start", 0)
        limit = min(_int_param(self.query, "limit", DEFAULT_LIMIT), MAX_LIMIT)
        return start, limit

    @property
    def search(self) -> str:
        return self.query.get("search", "")


def _int_param(query: Mapping[str, str], name: str, default: int) -> int:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise TenantError(400, f"query parameter {name} must be an integer") from None
    if value < 0:
        raise TenantError(400, f"query parameter {name} must be >= 0")
    return value


def _previous_page(call: _Call) -> _Call:
    """The same call one page earlier: its answer repeats the previous page's ids."""
    start, limit = call.paging()
    query = {**call.query, "start": str(max(0, start - limit))}
    return replace(call, query=query)


Handler = Callable[["LitmosApp", _Call], Response]


@dataclass(frozen=True)
class _Route:
    method: str
    pattern: tuple[str, ...]  # literal segments, "*" for an id
    handler: Handler
    kind: str = field(default="")


class LitmosApp:
    """Request handling without the socket: ``handle()`` maps one request to a
    ``Response``. Holds the tenant, the rate limiter, the faults and the stats."""

    def __init__(self, tenant: Tenant, *, api_key: str = DEFAULT_API_KEY,
                 rate_limit_per_minute: int | None = 100, rate_window_seconds: float = 60.0,
                 faults: FaultConfig | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if not api_key or len(api_key) > MAX_API_KEY_LEN:
            raise ValueError(f"api_key must be 1..{MAX_API_KEY_LEN} characters")
        self.tenant = tenant
        self._api_key = api_key.encode()
        self.limiter = _RateLimiter(rate_limit_per_minute, rate_window_seconds)
        self.faults = _FaultInjector(faults or FaultConfig())
        self.stats = _Stats(rate_window_seconds)
        self._sleep = sleep
        self._vanish_lock = threading.Lock()
        self._vanish_armed: set[str] = set()
        self._vanished: set[str] = set()

    def __repr__(self) -> str:
        return f"LitmosApp(users={len(self.tenant.users())}, api_key=<redacted>)"

    # -- entry point ---------------------------------------------------------------

    def handle(self, method: str, raw_path: str, headers: Mapping[str, str],
               body: bytes) -> Response:
        parts = urlsplit(raw_path)
        path = parts.path
        query = {k.lower(): v for k, v in parse_qsl(parts.query, keep_blank_values=True)}
        if path.startswith(CONTROL_PREFIX):
            self.stats.control()
            return self._control(method, path[len(CONTROL_PREFIX):].strip("/"), body)
        if path != BASE_PATH and not path.startswith(BASE_PATH + "/"):
            return _text(404, f"not found: paths live under {BASE_PATH}")
        api_path = path[len(BASE_PATH):].rstrip("/") or "/"
        segments = tuple(unquote(s) for s in api_path.strip("/").split("/") if s)
        route, params, path_known = _match(method, segments)
        kind = route.kind if route else ("unmatched" if not path_known else f"{method} ?")
        call = _Call(method, api_path, query, body, params, kind)
        now = time.monotonic()
        self.stats.request(kind, now)
        response = self._api(call, route, path_known, headers, now)
        self.stats.status("dropped" if response.drop else response.status)
        return response

    def _api(self, call: _Call, route: _Route | None, path_known: bool,
             headers: Mapping[str, str], now: float) -> Response:
        latency = self.faults.config.latency_ms
        if latency:
            self._sleep(latency / 1000)
        start = _int_param(call.query, "start", 0) if call.query.get("start", "").isdigit() else 0
        fault, slow_ms = self.faults.draw(call.method, call.api_path, start)
        if fault is not None:
            self.stats.fault(fault)
            if fault == "drop":
                return Response(0, drop=True)
            if fault == "slow":
                self._sleep(slow_ms / 1000)
            elif fault in ("503", "504"):
                return _text(int(fault), "Service Unavailable" if fault == "503"
                             else "Gateway Timeout")
            elif fault == "401":
                return _text(401, "Unauthorized: missing or invalid apikey")
        response = self._authorized(call, route, path_known, headers, now, fault)
        if fault == "cut" and response.body:
            return replace(response, cut=True)
        if fault == "malformed" and response.status == 200 and response.body:
            return replace(response, body=_malformed(response.body))
        return response

    def _authorized(self, call: _Call, route: _Route | None, path_known: bool,
                    headers: Mapping[str, str], now: float, fault: str | None) -> Response:
        key = headers.get("apikey") or call.query.get("apikey") or ""
        if not hmac.compare_digest(key.encode(), self._api_key):
            return _text(401, "Unauthorized: missing or invalid apikey")
        if not self.limiter.admit(key, now):
            self.stats.limited()
            return _text(503, "Service Unavailable: rate limit exceeded")
        source = call.query.get("source", "")
        if not source or len(source) > MAX_SOURCE_LEN:
            return _text(400, f"query parameter source is required (1..{MAX_SOURCE_LEN} chars)")
        if route is None:
            if path_known:
                return _text(405, f"method {call.method} not allowed on {call.api_path}")
            return _text(404, f"no endpoint {call.api_path}")
        if call.method in ("POST", "PUT", "DELETE"):
            self.stats.write(call.method, call.kind, call.api_path,
                             call.query.get("sendmessage"))
        if fault == "repeat":
            call = _previous_page(call)
        try:
            return self._vanishing(call) or route.handler(self, call)
        except TenantError as exc:
            return _text(exc.status, exc.message)

    # -- a course deleted between the course list and its enrollee list --------------

    def vanish_after_listing(self, course_id: str) -> None:
        """Once a course list page has shown ``course_id``, the course is gone: later
        lists leave it out and its own paths answer 404, as after a deletion."""
        if self.tenant.course(course_id) is None:
            raise ValueError(f"no course {course_id!r} in the tenant")
        with self._vanish_lock:
            self._vanish_armed.add(course_id)

    def _vanishing(self, call: _Call) -> Response | None:
        """404 for a vanished course's paths; a course list hides vanished courses and
        arms the deletion of listed ones. None: serve the call normally."""
        with self._vanish_lock:
            if not (self._vanish_armed or self._vanished):
                return None
            segments = call.api_path.strip("/").split("/")
            if segments[0] == "courses" and len(segments) > 1:
                if unquote(segments[1]) in self._vanished:
                    return _text(404, f"course {unquote(segments[1])!r} not found")
                return None
            if call.method != "GET" or segments != ["courses"]:
                return None
            start, limit = call.paging()
            gone = self._vanished
            rows = [r for r in self.tenant.page_courses(0, 10**9, call.search)
                    if r[0] not in gone][start:start + limit]
            listed = {r[0] for r in rows} & self._vanish_armed
            self._vanish_armed -= listed
            self._vanished |= listed
        return self._list(call, "Courses", "Course", COURSE_FIELDS, rows)

    @property
    def vanished_courses(self) -> frozenset[str]:
        with self._vanish_lock:
            return frozenset(self._vanished)

    # -- rendering helpers -------------------------------------------------------

    @staticmethod
    def _list(call: _Call, root: str, item: str, fields: tuple[str, ...],
              rows: list[Row]) -> Response:
        if call.as_json:
            return Response(200, _json_bytes([dict(zip(fields, r, strict=True)) for r in rows]),
                            JSON_TYPE)
        return Response(200, xml_list(root, item, fields, rows), XML_TYPE)

    @staticmethod
    def _one(call: _Call, item: str, fields: tuple[str, ...], row: Row,
             status: int = 200) -> Response:
        if call.as_json:
            return Response(status, _json_bytes(dict(zip(fields, row, strict=True))), JSON_TYPE)
        return Response(status, xml_one(item, fields, row), XML_TYPE)

    # -- users -------------------------------------------------------------------

    def users_list(self, call: _Call) -> Response:
        start, limit = call.paging()
        active_only = call.query.get("showinactive", "").lower() == "false"
        rows, _ = self.tenant.page_users(start, limit, call.search, active_only)
        return self._list(call, "Users", "User", USER_LIST_FIELDS, rows)

    def users_paginated(self, call: _Call) -> Response:
        start, limit = call.paging()
        active_only = call.query.get("showinactive", "").lower() == "false"
        rows, total = self.tenant.page_users(start, limit, call.search, active_only)
        if call.as_json:
            doc = {
                "Pagination": {"BatchParam": "", "BatchSize": limit, "Start": start,
                               "TotalCount": total},
                "Items": [dict(zip(USER_LIST_FIELDS, r, strict=True)) for r in rows],
            }
            return Response(200, _json_bytes(doc), JSON_TYPE)
        parts = [
            _XML_PROLOG, f'<UserCollection xmlns:i="{XSI_NS}">',
            f"<Pagination><BatchParam></BatchParam><BatchSize>{limit}</BatchSize>"
            f"<Start>{start}</Start><TotalCount>{total}</TotalCount></Pagination><Items>",
        ]
        for row in rows:
            _xml_row(parts, "User", USER_LIST_FIELDS, row)
        parts.append("</Items></UserCollection>")
        return Response(200, "".join(parts).encode("utf-8"), XML_TYPE)

    def user_create(self, call: _Call) -> Response:
        user = self.tenant.create_user(_object_fields(call.body, "User"))
        return self._one(call, "User", USER_FIELDS, self.tenant.user_detail(user.id), 201)

    def user_get(self, call: _Call) -> Response:
        return self._one(call, "User", USER_FIELDS, self.tenant.user_detail(call.params[0]))

    def user_update(self, call: _Call) -> Response:
        user = self.tenant.update_user(call.params[0], _object_fields(call.body, "User"))
        return self._one(call, "User", USER_FIELDS, self.tenant.user_detail(user.id))

    def user_delete(self, call: _Call) -> Response:
        self.tenant.delete_user(call.params[0])
        return _empty()

    def user_teams(self, call: _Call) -> Response:
        start, limit = call.paging()
        rows = self.tenant.page_user_teams(call.params[0], start, limit)
        return self._list(call, "Teams", "Team", TEAM_FIELDS, rows)

    def user_courses(self, call: _Call) -> Response:
        start, limit = call.paging()
        rows = self.tenant.page_user_courses(call.params[0], start, limit, call.search)
        return self._list(call, "Courses", "Course", USER_COURSE_FIELDS, rows)

    def user_courses_assign(self, call: _Call) -> Response:
        ids = _ids_from(_parse_body(call.body), "Courses", "Course")
        self.tenant.assign_courses(call.params[0], ids)
        return _empty()

    def users_courses_bulk(self, call: _Call) -> Response:
        pairs = _bulk_pairs(call.body)
        with self.tenant.lock:  # all or nothing: check every id before assigning
            for uid, course_ids in pairs:
                if self.tenant.user(uid) is None:
                    raise TenantError(404, f"user {uid!r} not found")
                for cid in course_ids:
                    if self.tenant.course(cid) is None:
                        raise TenantError(404, f"course {cid!r} not found")
            for uid, course_ids in pairs:
                self.tenant.assign_courses(uid, course_ids)
        return _empty()

    def user_course_get(self, call: _Call) -> Response:
        row = self.tenant.user_course(call.params[0], call.params[1])
        return self._one(call, "Course", USER_COURSE_FIELDS, row)

    def user_course_unassign(self, call: _Call) -> Response:
        self.tenant.unassign_course(call.params[0], call.params[1])
        return _empty()

    # -- teams -------------------------------------------------------------------

    def teams_list(self, call: _Call) -> Response:
        start, limit = call.paging()
        rows = self.tenant.page_teams(start, limit, call.search)
        return self._list(call, "Teams", "Team", TEAM_FIELDS, rows)

    def team_create(self, call: _Call) -> Response:
        team = self.tenant.create_team(_object_fields(call.body, "Team"))
        return self._one(call, "Team", TEAM_FIELDS, self.tenant.team_detail(team.id), 201)

    def team_get(self, call: _Call) -> Response:
        return self._one(call, "Team", TEAM_FIELDS, self.tenant.team_detail(call.params[0]))

    def team_update(self, call: _Call) -> Response:
        team = self.tenant.update_team(call.params[0], _object_fields(call.body, "Team"))
        return self._one(call, "Team", TEAM_FIELDS, self.tenant.team_detail(team.id))

    def team_delete(self, call: _Call) -> Response:
        self.tenant.delete_team(call.params[0])
        return _empty()

    def sub_teams(self, call: _Call) -> Response:
        start, limit = call.paging()
        rows = self.tenant.page_sub_teams(call.params[0], start, limit, call.search)
        return self._list(call, "Teams", "Team", TEAM_FIELDS, rows)

    def sub_team_create(self, call: _Call) -> Response:
        team = self.tenant.create_team(_object_fields(call.body, "Team"), call.params[0])
        return self._one(call, "Team", TEAM_FIELDS, self.tenant.team_detail(team.id), 201)

    def _team_people(self, call: _Call, role: str) -> Response:
        start, limit = call.paging()
        rows = self.tenant.page_team_people(call.params[0], role, start, limit, call.search)
        return self._list(call, "Users", "User", MEMBER_FIELDS, rows)

    def team_members(self, call: _Call) -> Response:
        return self._team_people(call, "users")

    def team_leaders(self, call: _Call) -> Response:
        return self._team_people(call, "leaders")

    def team_admins(self, call: _Call) -> Response:
        return self._team_people(call, "admins")

    def team_members_add(self, call: _Call) -> Response:
        ids = _ids_from(_parse_body(call.body), "Users", "User")
        self.tenant.add_team_members(call.params[0], ids)
        return _empty(201)

    def team_member_remove(self, call: _Call) -> Response:
        self.tenant.remove_team_member(call.params[0], call.params[1])
        return _empty()

    def team_leader_put(self, call: _Call) -> Response:
        self.tenant.set_team_role(call.params[0], "leaders", call.params[1], True)
        return _empty()

    def team_leader_delete(self, call: _Call) -> Response:
        self.tenant.set_team_role(call.params[0], "leaders", call.params[1], False)
        return _empty()

    def team_admin_put(self, call: _Call) -> Response:
        self.tenant.set_team_role(call.params[0], "admins", call.params[1], True)
        return _empty()

    def team_admin_delete(self, call: _Call) -> Response:
        self.tenant.set_team_role(call.params[0], "admins", call.params[1], False)
        return _empty()

    def team_courses(self, call: _Call) -> Response:
        start, limit = call.paging()
        rows = self.tenant.page_team_courses(call.params[0], start, limit)
        return self._list(call, "Courses", "Course", COURSE_FIELDS, rows)

    def team_courses_assign(self, call: _Call) -> Response:
        ids = _ids_from(_parse_body(call.body), "Courses", "Course")
        sub = call.query.get("includesubteams", "").lower() == "true"
        self.tenant.assign_team_courses(call.params[0], ids, sub)
        return _empty()

    def team_course_unassign(self, call: _Call) -> Response:
        self.tenant.unassign_team_course(call.params[0], call.params[1])
        return _empty()

    # -- courses -----------------------------------------------------------------

    def courses_list(self, call: _Call) -> Response:
        start, limit = call.paging()
        rows = self.tenant.page_courses(start, limit, call.search)
        return self._list(call, "Courses", "Course", COURSE_FIELDS, rows)

    def course_get(self, call: _Call) -> Response:
        return self._one(call, "Course", COURSE_FIELDS, self.tenant.course_detail(call.params[0]))

    def course_users(self, call: _Call) -> Response:
        start, limit = call.paging()
        rows = self.tenant.page_course_users(call.params[0], start, limit, call.search)
        return self._list(call, "Users", "User", COURSE_USER_FIELDS, rows)

    def course_modules(self, call: _Call) -> Response:
        rows = self.tenant.course_modules(call.params[0])
        start, limit = call.paging()
        return self._list(call, "Modules", "Module", MODULE_FIELDS, rows[start:start + limit])

    # -- /_sandbox control ---------------------------------------------------------

    def _control(self, method: str, name: str, body: bytes) -> Response:
        try:
            data = json.loads(body) if body.strip() else {}
        except json.JSONDecodeError as exc:
            return _text(400, f"control body must be JSON: {exc}")
        try:
            if (method, name) == ("GET", "stats"):
                return Response(200, _json_bytes(self.stats.snapshot()), JSON_TYPE)
            if (method, name) == ("POST", "reset-stats"):
                self.stats.reset()
                return Response(200, _json_bytes({"ok": True}), JSON_TYPE)
            if (method, name) == ("GET", "faults"):
                return Response(200, _json_bytes(self.faults.config.to_json()), JSON_TYPE)
            if (method, name) == ("POST", "faults"):
                self.faults.set(FaultConfig.from_json(data))
                return Response(200, _json_bytes(self.faults.config.to_json()), JSON_TYPE)
            if (method, name) == ("POST", "rate-limit"):
                self.limiter.configure(data.get("per_minute"), data.get("window_seconds"))
                if data.get("reset", True):
                    self.limiter.reset()
                return Response(200, _json_bytes({"per_minute": self.limiter.per_minute,
                                                  "window_seconds": self.limiter.window_seconds}),
                                JSON_TYPE)
            if (method, name) == ("POST", "vanish-course"):
                self.vanish_after_listing(str(data["course_id"]))
                return Response(200, _json_bytes({"armed": data["course_id"]}), JSON_TYPE)
            if (method, name) == ("GET", "tenant"):
                return Response(200, _json_bytes(self.tenant.summary()), JSON_TYPE)
            if (method, name) == ("GET", "health"):
                return Response(200, _json_bytes({"ok": True}), JSON_TYPE)
        except (TypeError, ValueError, KeyError) as exc:
            return _text(400, f"bad control request: {exc}")
        return _text(404, f"no control endpoint {method} /_sandbox/{name}")


# (method, path pattern, handler, kind). "*" is an id segment; literal routes come
# before the id route they would otherwise shadow.
_ROUTE_TABLE: list[tuple[str, str, Handler]] = [
    ("GET", "users", LitmosApp.users_list),
    ("POST", "users", LitmosApp.user_create),
    ("GET", "users/paginated", LitmosApp.users_paginated),
    ("POST", "users/courses", LitmosApp.users_courses_bulk),
    ("GET", "users/*", LitmosApp.user_get),
    ("PUT", "users/*", LitmosApp.user_update),
    ("DELETE", "users/*", LitmosApp.user_delete),
    ("GET", "users/*/teams", LitmosApp.user_teams),
    ("GET", "users/*/courses", LitmosApp.user_courses),
    ("POST", "users/*/courses", LitmosApp.user_courses_assign),
    ("GET", "users/*/courses/*", LitmosApp.user_course_get),
    ("DELETE", "users/*/courses/*", LitmosApp.user_course_unassign),
    ("GET", "teams", LitmosApp.teams_list),
    ("POST", "teams", LitmosApp.team_create),
    ("GET", "teams/*", LitmosApp.team_get),
    ("PUT", "teams/*", LitmosApp.team_update),
    ("DELETE", "teams/*", LitmosApp.team_delete),
    ("GET", "teams/*/teams", LitmosApp.sub_teams),
    ("POST", "teams/*/teams", LitmosApp.sub_team_create),
    ("GET", "teams/*/users", LitmosApp.team_members),
    ("POST", "teams/*/users", LitmosApp.team_members_add),
    ("DELETE", "teams/*/users/*", LitmosApp.team_member_remove),
    ("GET", "teams/*/leaders", LitmosApp.team_leaders),
    ("PUT", "teams/*/leaders/*", LitmosApp.team_leader_put),
    ("DELETE", "teams/*/leaders/*", LitmosApp.team_leader_delete),
    ("GET", "teams/*/admins", LitmosApp.team_admins),
    ("PUT", "teams/*/admins/*", LitmosApp.team_admin_put),
    ("DELETE", "teams/*/admins/*", LitmosApp.team_admin_delete),
    ("GET", "teams/*/courses", LitmosApp.team_courses),
    ("POST", "teams/*/courses", LitmosApp.team_courses_assign),
    ("DELETE", "teams/*/courses/*", LitmosApp.team_course_unassign),
    ("GET", "courses", LitmosApp.courses_list),
    ("GET", "courses/*", LitmosApp.course_get),
    ("GET", "courses/*/users", LitmosApp.course_users),
    ("GET", "courses/*/modules", LitmosApp.course_modules),
]


def _kind_label(method: str, pattern: tuple[str, ...]) -> str:
    names = iter(("{id}", "{subId}"))
    return f"{method} /" + "/".join(next(names) if s == "*" else s for s in pattern)


ROUTES: tuple[_Route, ...] = tuple(
    _Route(m, tuple(p.split("/")), h, _kind_label(m, tuple(p.split("/"))))
    for m, p, h in _ROUTE_TABLE
)
ROUTE_KINDS: tuple[str, ...] = tuple(r.kind for r in ROUTES)


def _fits(pattern: tuple[str, ...], segments: tuple[str, ...]) -> bool:
    return len(pattern) == len(segments) and all(
        p == "*" or p == s for p, s in zip(pattern, segments, strict=True)
    )


def _match(method: str,
           segments: tuple[str, ...]) -> tuple[_Route | None, tuple[str, ...], bool]:
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


# ---------------------------------------------------------------------------
# HTTP server
# ---------------------------------------------------------------------------

_APIKEY_IN_QUERY = re.compile(r"(apikey=)[^&\s]*", re.IGNORECASE)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "litmos-sandbox"
    sys_version = ""
    disable_nagle_algorithm = True
    timeout = 300  # idle keep-alive connections give their thread back eventually
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def do_PUT(self) -> None:  # noqa: N802
        self._dispatch("PUT")

    def do_DELETE(self) -> None:  # noqa: N802
        self._dispatch("DELETE")

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _dispatch(self, method: str) -> None:
        try:
            body = self._read_body()
        except (ValueError, OSError):
            self.close_connection = True
            self._write(_text(400, "unreadable request body"))
            return
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            response = self.server.app.handle(method, self.path, headers, body)
        except Exception as exc:  # the server must keep serving; report the failure
            self.server.app.stats.status(500)
            response = _text(500, f"sandbox error: {type(exc).__name__}: {exc}")
        if self.server.verbose:
            self.log_message('"%s %s" %s', method,
                             _APIKEY_IN_QUERY.sub(r"\1<redacted>", self.path),
                             "dropped" if response.drop else response.status)
        if response.drop:
            self._hang_up()
            return
        if response.cut:
            self.close_connection = True
            self._write(response, send=len(response.body) // 2)
            self._hang_up()
            return
        self._write(response)

    def _hang_up(self) -> None:
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _write(self, response: Response, send: int | None = None) -> None:
        """The head with the whole body's Content-Length, then ``send`` bytes of the
        body (all of it by default)."""
        status = response.status
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = ""
        lines = [
            f"HTTP/1.1 {status} {reason}",
            f"Server: {self.server_version}",
            f"Date: {self.date_time_string()}",
            f"Content-Length: {len(response.body)}",
        ]
        if response.content_type:
            lines.append(f"Content-Type: {response.content_type}")
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        body = response.body if send is None else response.body[:send]
        self.wfile.write(head + body)  # one write: no Nagle/delayed-ACK stall

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base signature
        if self.server.verbose:
            sys.stderr.write(f"litmos-sandbox: {format % args}\n")

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass  # per-request lines only through _dispatch when verbose


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], app: LitmosApp, verbose: bool) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.app = app
        self.verbose = verbose
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        super().__init__(address, _Handler)

    def track(self, conn: socket.socket, alive: bool) -> None:
        with self._conns_lock:
            if alive:
                self._conns.add(conn)
            else:
                self._conns.discard(conn)

    def close_connections(self) -> None:
        """Idle keep-alive connections would otherwise keep their threads blocked."""
        with self._conns_lock:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class LitmosSandbox:
    """The Litmos sandbox server, started on construction in a background thread
    on a free loopback port. Use as a context manager, or call ``close()``."""

    def __init__(self, spec_or_tenant: TenantSpec | Tenant | str = "tiny", *,
                 api_key: str = DEFAULT_API_KEY, rate_limit_per_minute: int | None = 100,
                 faults: FaultConfig | None = None, latency_ms: float | None = None,
                 host: str = "127.0.0.1", port: int = 0, rate_window_seconds: float = 60.0,
                 verbose: bool = False) -> None:
        if not _is_loopback(host):
            raise ValueError(f"sandbox host must be a loopback address, got {host!r}")
        if isinstance(spec_or_tenant, Tenant):
            tenant = spec_or_tenant
        elif isinstance(spec_or_tenant, TenantSpec):
            tenant = Tenant.generate(spec_or_tenant)
        else:
            tenant = Tenant.generate(TenantSpec.preset(spec_or_tenant))
        faults = faults or FaultConfig()
        if latency_ms is not None:
            faults = replace(faults, latency_ms=latency_ms)
        self.app = LitmosApp(tenant, api_key=api_key,
                             rate_limit_per_minute=rate_limit_per_minute,
                             rate_window_seconds=rate_window_seconds, faults=faults)
        self.api_key = api_key
        self._server = _Server((host, port), self.app, verbose)
        self.host, self.port = self._server.server_address[:2]
        url_host = f"[{self.host}]" if ":" in str(self.host) else self.host
        self.base_url = f"http://{url_host}:{self.port}{BASE_PATH}"
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.1},
                                        name=f"litmos-sandbox-{self.port}", daemon=True)
        self._thread.start()
        self._closed = False

    def __repr__(self) -> str:
        return f"LitmosSandbox(base_url={self.base_url!r}, api_key=<redacted>)"

    def __enter__(self) -> LitmosSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def tenant(self) -> Tenant:
        return self.app.tenant

    @property
    def control_url(self) -> str:
        return self.base_url[: -len(BASE_PATH)] + "/_sandbox"

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._server.shutdown()
        self._server.close_connections()
        self._server.server_close()
        self._thread.join(timeout=5)

    # -- inspection and control (same as the /_sandbox endpoints) --------------------

    def stats(self) -> dict[str, Any]:
        return self.app.stats.snapshot()

    def reset_stats(self) -> None:
        self.app.stats.reset()

    def set_faults(self, config: FaultConfig | None = None, **changes: Any) -> FaultConfig:
        """Replaces the fault config (``set_faults()`` clears it). Keyword
        arguments change fields of ``config`` (or of an empty config)."""
        config = replace(config or FaultConfig(), **changes)
        self.app.faults.set(config)
        return config

    def clear_faults(self) -> None:
        self.app.faults.set(FaultConfig())

    def add_fault(self, rule: FaultRule) -> None:
        self.app.faults.add_rule(rule)

    def fail_next(self, count: int, kind: str = "503", path_prefix: str = "",
                  method: str | None = None) -> None:
        """The next ``count`` matching API requests get fault ``kind``."""
        self.add_fault(FaultRule(kind, count=count, path_prefix=path_prefix, method=method))

    @property
    def faults(self) -> FaultConfig:
        return self.app.faults.config

    def set_rate_limit(self, per_minute: int | None, window_seconds: float | None = None,
                       reset: bool = True) -> None:
        self.app.limiter.configure(per_minute, window_seconds)
        if reset:
            self.app.limiter.reset()

    def reset_rate_limit(self) -> None:
        self.app.limiter.reset()

    def vanish_course_after_listing(self, course_id: str) -> None:
        """Delete ``course_id`` right after the next course list shows it (see
        ``LitmosApp.vanish_after_listing``)."""
        self.app.vanish_after_listing(course_id)

    def login_key(self, user_id: str) -> str:
        """The ``LoginKey`` that GET /users/{id} answers for the user (a credential the
        pipeline must never store), so a test can scan what was written for it."""
        return str(self.tenant.record(USER_FIELDS, self.tenant.user_detail(user_id))["LoginKey"])

    def sendmessage_values(self) -> list[str | None]:
        """``sendmessage`` of every write request seen since the last stats reset
        (the most recent 1000)."""
        return [w["sendmessage"] for w in self.app.stats.snapshot()["writes"]]


# ---------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------


def _build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="litmos-sandbox",
        description="Serve a synthetic Litmos tenant on loopback. Prints one JSON line "
                    '{"base_url", "api_key", "pid"} when ready; stops on SIGINT/SIGTERM.')
    p.add_argument("--host", default="127.0.0.1", help="loopback address to bind")
    p.add_argument("--port", type=int, default=0, help="port (0: a free one)")
    p.add_argument("--preset", choices=TenantSpec.preset_names(), default="small",
                   help="tenant size; --users/--teams/--courses/--enrollments override it")
    for name in ("users", "teams", "courses", "enrollments"):
        p.add_argument(f"--{name}", type=int, default=None)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--api-key", default=DEFAULT_API_KEY)
    p.add_argument("--rate-limit", type=int, default=100,
                   help="requests per minute per API key (0: off)")
    p.add_argument("--rate-window", type=float, default=60.0, help="rate window in seconds")
    p.add_argument("--latency-ms", type=float, default=0.0)
    p.add_argument("--fail-rate", type=float, default=0.0,
                   help="share of requests answered 503 or 504 (half each)")
    p.add_argument("--drop-rate", type=float, default=0.0,
                   help="share of requests whose connection is closed unanswered")
    p.add_argument("--slow-rate", type=float, default=0.0)
    p.add_argument("--slow-ms", type=float, default=2000.0)
    p.add_argument("--fault-seed", type=int, default=0)
    p.add_argument("--verbose", action="store_true", help="log one line per request")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    if not _is_loopback(args.host):
        print(f"litmos-sandbox: --host must be a loopback address, got {args.host!r}",
              file=sys.stderr)
        return 2
    overrides = {k: getattr(args, k) for k in ("users", "teams", "courses", "enrollments")
                 if getattr(args, k) is not None}
    try:
        spec = TenantSpec.preset(args.preset, seed=args.seed, **overrides)
        faults = FaultConfig.from_rates(fail_rate=args.fail_rate, drop_rate=args.drop_rate,
                                        slow_rate=args.slow_rate, slow_ms=args.slow_ms,
                                        latency_ms=args.latency_ms, seed=args.fault_seed)
        sandbox = LitmosSandbox(spec, api_key=args.api_key,
                                rate_limit_per_minute=args.rate_limit or None,
                                rate_window_seconds=args.rate_window, faults=faults,
                                host=args.host, port=args.port, verbose=args.verbose)
    except (ValueError, OSError) as exc:
        print(f"litmos-sandbox: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()
    restore = _install_stop_handlers(stop)
    try:
        ready = {"base_url": sandbox.base_url, "api_key": sandbox.api_key, "pid": os.getpid()}
        sys.stdout.write(json.dumps(ready) + "\n")
        sys.stdout.flush()
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.close()
        restore()
    return 0


def _install_stop_handlers(stop: threading.Event) -> Callable[[], None]:
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, lambda *_: stop.set())

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return restore


if __name__ == "__main__":
    raise SystemExit(main())
