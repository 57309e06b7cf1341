"""One API request as the endpoints see it: method, path, query, body, paging."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from litmos_sandbox.litmos.tenant import TenantError

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


@dataclass
class Call:
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
        start = int_param(self.query, "start", 0)
        limit = min(int_param(self.query, "limit", DEFAULT_LIMIT), MAX_LIMIT)
        return start, limit

    @property
    def search(self) -> str:
        return self.query.get("search", "")


def int_param(query: Mapping[str, str], name: str, default: int) -> int:
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


def previous_page(call: Call) -> Call:
    """The same call one page earlier: its answer repeats the previous page's ids."""
    start, limit = call.paging()
    query = {**call.query, "start": str(max(0, start - limit))}
    return replace(call, query=query)
