"""Request handling without the socket: ``LitmosApp.handle()`` checks the key, the
rate limit and the ``source`` parameter, injects faults, and hands the call to its
endpoint. ``/_sandbox/...`` holds control and inspection endpoints that need no key."""

from __future__ import annotations

import hmac
import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from urllib.parse import parse_qsl, unquote, urlsplit

from litmos_sandbox.litmos.delta import delta_control
from litmos_sandbox.litmos.endpoints import Endpoints
from litmos_sandbox.litmos.faults import FaultConfig, FaultInjector
from litmos_sandbox.litmos.request import Call, int_param, previous_page
from litmos_sandbox.litmos.routes import Route, match
from litmos_sandbox.litmos.tenant import COURSE_FIELDS, Tenant, TenantError
from litmos_sandbox.litmos.traffic import RateLimiter, Stats
from litmos_sandbox.litmos.wire import JSON_TYPE, Response, json_bytes, malformed, plain

BASE_PATH = "/v1.svc"
CONTROL_PREFIX = "/_sandbox/"
DEFAULT_API_KEY = "sandbox-key"

MAX_SOURCE_LEN = 50
MAX_API_KEY_LEN = 50


class LitmosApp(Endpoints):
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
        self.limiter = RateLimiter(rate_limit_per_minute, rate_window_seconds)
        self.faults = FaultInjector(faults or FaultConfig())
        self.stats = Stats(rate_window_seconds)
        self._sleep = sleep
        self._vanish_lock = threading.Lock()
        self._vanish_armed: set[str] = set()
        self._vanished: set[str] = set()

    def __repr__(self) -> str:
        return f"LitmosApp(users={len(self.tenant.users())}, api_key=<redacted>)"

    def handle(self, method: str, raw_path: str, headers: Mapping[str, str],
               body: bytes) -> Response:
        parts = urlsplit(raw_path)
        path = parts.path
        query = {k.lower(): v for k, v in parse_qsl(parts.query, keep_blank_values=True)}
        if path.startswith(CONTROL_PREFIX):
            self.stats.control()
            return self._control(method, path[len(CONTROL_PREFIX):].strip("/"), body)
        if path != BASE_PATH and not path.startswith(BASE_PATH + "/"):
            return plain(404, f"not found: paths live under {BASE_PATH}")
        api_path = path[len(BASE_PATH):].rstrip("/") or "/"
        segments = tuple(unquote(s) for s in api_path.strip("/").split("/") if s)
        route, params, path_known = match(method, segments)
        kind = route.kind if route else ("unmatched" if not path_known else f"{method} ?")
        call = Call(method, api_path, query, body, params, kind)
        now = time.monotonic()
        self.stats.request(kind, now)
        response = self._api(call, route, path_known, headers, now)
        self.stats.status("dropped" if response.drop else response.status)
        return response

    def _api(self, call: Call, route: Route | None, path_known: bool,
             headers: Mapping[str, str], now: float) -> Response:
        latency = self.faults.config.latency_ms
        if latency:
            self._sleep(latency / 1000)
        start = int_param(call.query, "start", 0) if call.query.get("start", "").isdigit() else 0
        fault, slow_ms = self.faults.draw(call.method, call.api_path, start)
        if fault is not None:
            self.stats.fault(fault)
            if fault == "drop":
                return Response(0, drop=True)
            if fault == "slow":
                self._sleep(slow_ms / 1000)
            elif fault in ("503", "504"):
                return plain(int(fault), "Service Unavailable" if fault == "503"
                             else "Gateway Timeout")
            elif fault == "401":
                return plain(401, "Unauthorized: missing or invalid apikey")
        response = self._authorized(call, route, path_known, headers, now, fault)
        if fault == "cut" and response.body:
            return replace(response, cut=True)
        if fault == "malformed" and response.status == 200 and response.body:
            return replace(response, body=malformed(response.body))
        return response

    def _authorized(self, call: Call, route: Route | None, path_known: bool,
                    headers: Mapping[str, str], now: float, fault: str | None) -> Response:
        key = headers.get("apikey") or call.query.get("apikey") or ""
        if not hmac.compare_digest(key.encode(), self._api_key):
            return plain(401, "Unauthorized: missing or invalid apikey")
        if not self.limiter.admit(key, now):
            self.stats.limited()
            return plain(503, "Service Unavailable: rate limit exceeded")
        source = call.query.get("source", "")
        if not source or len(source) > MAX_SOURCE_LEN:
            return plain(400, f"query parameter source is required (1..{MAX_SOURCE_LEN} chars)")
        if route is None:
            if path_known:
                return plain(405, f"method {call.method} not allowed on {call.api_path}")
            return plain(404, f"no endpoint {call.api_path}")
        if call.method in ("POST", "PUT", "DELETE"):
            self.stats.write(call.method, call.kind, call.api_path,
                             call.query.get("sendmessage"))
        if fault == "repeat":
            call = previous_page(call)
        try:
            return self._vanishing(call) or route.handler(self, call)
        except TenantError as exc:
            return plain(exc.status, exc.message)

    def vanish_after_listing(self, course_id: str) -> None:
        """Once a course list page has shown ``course_id``, the course is gone: the
        tenant deletes it (``Tenant.delete_course``), so later lists leave it out and its
        own paths answer 404."""
        if self.tenant.course(course_id) is None:
            raise ValueError(f"no course {course_id!r} in the tenant")
        with self._vanish_lock:
            self._vanish_armed.add(course_id)

    def _vanishing(self, call: Call) -> Response | None:
        """404 for a vanished course's paths; a course list hides vanished courses and
        arms the deletion of listed ones. None: serve the call normally."""
        with self._vanish_lock:
            if not (self._vanish_armed or self._vanished):
                return None
            segments = call.api_path.strip("/").split("/")
            if segments[0] == "courses" and len(segments) > 1:
                if unquote(segments[1]) in self._vanished:
                    return plain(404, f"course {unquote(segments[1])!r} not found")
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
            for course_id in sorted(listed):
                # A real deletion: the course leaves every other view (a user's courses,
                # team courses) and the delta queries report it and its enrollments.
                self.tenant.delete_course(course_id)
        return self._list(call, "Courses", "Course", COURSE_FIELDS, rows)

    @property
    def vanished_courses(self) -> frozenset[str]:
        with self._vanish_lock:
            return frozenset(self._vanished)

    def _control(self, method: str, name: str, body: bytes) -> Response:
        try:
            data = json.loads(body) if body.strip() else {}
        except json.JSONDecodeError as exc:
            return plain(400, f"control body must be JSON: {exc}")
        try:
            if (method, name) == ("GET", "stats"):
                return Response(200, json_bytes(self.stats.snapshot()), JSON_TYPE)
            if (method, name) == ("POST", "reset-stats"):
                self.stats.reset()
                return Response(200, json_bytes({"ok": True}), JSON_TYPE)
            if (method, name) == ("GET", "faults"):
                return Response(200, json_bytes(self.faults.config.to_json()), JSON_TYPE)
            if (method, name) == ("POST", "faults"):
                self.faults.set(FaultConfig.from_json(data))
                return Response(200, json_bytes(self.faults.config.to_json()), JSON_TYPE)
            if (method, name) == ("POST", "rate-limit"):
                self.limiter.configure(data.get("per_minute"), data.get("window_seconds"))
                if data.get("reset", True):
                    self.limiter.reset()
                return Response(200, json_bytes({"per_minute": self.limiter.per_minute,
                                                  "window_seconds": self.limiter.window_seconds}),
                                JSON_TYPE)
            if (method, name) == ("POST", "vanish-course"):
                self.vanish_after_listing(str(data["course_id"]))
                return Response(200, json_bytes({"armed": data["course_id"]}), JSON_TYPE)
            if (method, name) == ("GET", "tenant"):
                return Response(200, json_bytes(self.tenant.summary()), JSON_TYPE)
            if (method, name) == ("GET", "health"):
                return Response(200, json_bytes({"ok": True}), JSON_TYPE)
            answer = delta_control(self.tenant, method, name, data)
            if answer is not None:
                return answer
        except TenantError as exc:
            return plain(exc.status, exc.message)
        except (TypeError, ValueError, KeyError) as exc:
            return plain(400, f"bad control request: {exc}")
        return plain(404, f"no control endpoint {method} /_sandbox/{name}")
