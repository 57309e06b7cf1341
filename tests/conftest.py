"""Shared fixtures: sandboxes on loopback, a canned-answer HTTP server, Dagster wiring."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from litmos_pipeline.defs.resources import LitmosResource, WarehouseResource
from litmos_sandbox.litmos import LitmosSandbox
from litmos_sandbox.litmos.tenant import Tenant, TenantSpec

Answer = tuple[int, str | None, bytes]


class CannedLitmos:
    """A loopback HTTP server answering from a function of (method, path, query).

    For bodies the sandbox never sends: malformed XML/JSON, records without Id, pages
    that repeat records.
    """

    def __init__(self, answer: Callable[[str, str, dict[str, str]], Answer]) -> None:
        self.answer = answer
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_: Any) -> None:
                pass

            def _serve(self) -> None:
                from urllib.parse import parse_qsl, urlsplit

                parts = urlsplit(self.path)
                query = dict(parse_qsl(parts.query))
                length = int(self.headers.get("content-length") or 0)
                if length:
                    self.rfile.read(length)
                owner.requests.append((self.command, parts.path, query))
                status, ctype, body = owner.answer(self.command, parts.path, query)
                self.send_response(status)
                if ctype:
                    self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = _serve  # noqa: N815

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1.svc"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def canned() -> Iterator[Callable[[Callable[[str, str, dict[str, str]], Answer]], CannedLitmos]]:
    servers: list[CannedLitmos] = []

    def make(answer: Callable[[str, str, dict[str, str]], Answer]) -> CannedLitmos:
        server = CannedLitmos(answer)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.close()


@pytest.fixture
def tiny_sandbox() -> Iterator[LitmosSandbox]:
    with LitmosSandbox(Tenant.generate(TenantSpec.preset("tiny")),
                       rate_limit_per_minute=None) as sandbox:
        yield sandbox


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as inst:
        yield inst


def sync_resources(base_url: str, api_key: str, db: Path, **litmos: str) -> dict[str, Any]:
    """Resources for the sync assets against a sandbox, unpaced, retries kept short."""
    options = {"requests_per_minute": "1000000", "max_retries": "2", **litmos}
    return {
        "litmos": LitmosResource(api_key=api_key, source="pytest", base_url=base_url,
                                 **options),
        "warehouse": WarehouseResource(duckdb_path=str(db)),
    }
