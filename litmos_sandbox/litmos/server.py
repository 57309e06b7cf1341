"""A Litmos REST API stand-in: a real HTTP/1.1 server on loopback over a ``Tenant``.

Serves ``/v1.svc/...`` like Litmos (XML by default, JSON with ``format=json``,
``apikey`` header, ``source`` parameter, ``start``/``limit`` paging capped at 1000,
a per-key requests-per-minute limit answered with 503): users, teams (members, leaders,
admins, sub-teams, courses), courses (enrollees, modules) and their writes
(``routes.py``), and the delta queries ``GET /org/users/details``, ``/org/users/logins``,
``/org/teams``, ``/org/teams/users``, ``/org/users/courses``, ``/org/results/details``,
``/org/courses`` (``since``/``to``, at most 7 days; ``delta.py``, rules in
``tenant/history.py``). It can inject faults (503/504, latency, slow answers, dropped
connections, bodies cut half way, malformed pages, a page repeating the previous page's
ids, 401 once the key is revoked, a course deleted between the course list and its
enrollee list). ``/_sandbox/...`` holds control and inspection endpoints that need no
key: stats, faults, rate-limit, vanish-course, tenant, health, and for the delta
queries mutate (random changes), login, delete-course, delta-removals and clock.

Python use::

    with LitmosSandbox(TenantSpec.preset("small"), rate_limit_per_minute=None) as sb:
        httpx.get(f"{sb.base_url}/users", params={"source": "t"},
                  headers={"apikey": sb.api_key})
        sb.mutate(seed=1, deactivate_users=5, assign_courses=20)  # then ask /org/...

CLI use (``cli.py``): ``main(["--preset", "small", "--port", "0"])`` prints one JSON line
``{"base_url", "api_key", "pid"}`` when ready and serves until SIGINT/SIGTERM.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import sys
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from litmos_sandbox.litmos.app import BASE_PATH, DEFAULT_API_KEY, LitmosApp
from litmos_sandbox.litmos.delta import DeltaControls
from litmos_sandbox.litmos.faults import FaultConfig, FaultRule
from litmos_sandbox.litmos.tenant import USER_FIELDS, Tenant, TenantSpec
from litmos_sandbox.litmos.wire import Response, plain

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
            self._write(plain(400, "unreadable request body"))
            return
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            response = self.server.app.handle(method, self.path, headers, body)
        except Exception as exc:  # the server must keep serving; report the failure
            self.server.app.stats.status(500)
            response = plain(500, f"sandbox error: {type(exc).__name__}: {exc}")
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


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class LitmosSandbox(DeltaControls):
    """The Litmos sandbox server, started on construction in a background thread
    on a free loopback port. Use as a context manager, or call ``close()``.
    ``delta_removals`` ("active_false" or "silent") and ``clock`` (stamping changes)
    set the tenant's; None keeps what the tenant has."""

    def __init__(self, spec_or_tenant: TenantSpec | Tenant | str = "tiny", *,
                 api_key: str = DEFAULT_API_KEY, rate_limit_per_minute: int | None = 100,
                 faults: FaultConfig | None = None, latency_ms: float | None = None,
                 host: str = "127.0.0.1", port: int = 0, rate_window_seconds: float = 60.0,
                 verbose: bool = False, delta_removals: str | None = None,
                 clock: Callable[[], datetime] | None = None) -> None:
        if not is_loopback(host):
            raise ValueError(f"sandbox host must be a loopback address, got {host!r}")
        if isinstance(spec_or_tenant, Tenant):
            tenant = spec_or_tenant
        elif isinstance(spec_or_tenant, TenantSpec):
            tenant = Tenant.generate(spec_or_tenant)
        else:
            tenant = Tenant.generate(TenantSpec.preset(spec_or_tenant))
        # None leaves a given tenant's own settings (defaults: active_false, real time).
        if delta_removals is not None:
            tenant.set_delta_removals(delta_removals)
        if clock is not None:
            tenant.set_clock(clock)
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
