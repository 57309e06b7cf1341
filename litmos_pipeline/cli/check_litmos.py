"""`check` against Litmos: one cheap call (the user list, one record), then the courses.

Each failure names its likely cause: the host does not resolve or answer (LITMOS_BASE_URL),
the key is refused (LITMOS_API_KEY; with `--probe-regions`, when LITMOS_BASE_URL is a
region, the other regions' hosts are asked once with the same key, so a key of another
region is named as such: opt-in, as it sends the key to hosts the settings do not name),
the request is refused (LITMOS_SOURCE), or a course in LITMOS_COURSE_IDS does not exist.
"""

from __future__ import annotations

import random
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

from litmos_pipeline import settings as cfg
from litmos_pipeline.catalog import COURSE
from litmos_pipeline.cli.verdicts import Verdict, fail, ok
from litmos_pipeline.litmos.budget import PROVISION, KeyBudget, Shares, key_id
from litmos_pipeline.litmos.client import (
    LitmosAuthError,
    LitmosClient,
    LitmosError,
    LitmosParseError,
)
from litmos_pipeline.litmos.ids import path_segment
from litmos_pipeline.litmos.records import parse_page

MAX_COURSE_GETS = 20  # one GET per configured course id, up to this many (else a sample)
TIMEOUT_S = 20.0  # at most, per request (LITMOS_TIMEOUT_S if lower)


def probe(s: cfg.LitmosSettings, budget_path: Path | None = None, *,
          probe_regions: bool = False) -> list[Verdict]:
    """Verdicts on the host, the key and source, and the configured courses.

    `budget_path`: the key's shared request budget, drawn from (in provisioning's lane)
    when the file exists, so a check beside a running sync does not push the key over.
    """
    parts = urlsplit(s.base_url)
    host, port = parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        return [fail("Litmos host", f"cannot resolve {host} (LITMOS_BASE_URL): "
                                    f"{exc.strerror or exc}")]
    with _client(s, s.base_url, budget_path) as client:
        first = _first_call(client, host, port)
        if first is not None:
            if first.item == "Litmos key" and probe_regions:
                first = _other_regions(s, first)
            elif first.item == "Litmos key" and s.base_url in cfg.LITMOS_REGIONS.values():
                first = fail(first.item, first.detail + ", or a key of another Litmos "
                             "region (`check --probe-regions` asks the others)")
            return [first]
        verdicts = [ok("Litmos key and source",
                       f"{host} accepted LITMOS_API_KEY and LITMOS_SOURCE")]
        verdicts.append(_courses(client, s.course_ids))
    return verdicts


@contextmanager
def _client(s: cfg.LitmosSettings, base_url: str,
            budget_path: Path | None) -> Iterator[LitmosClient]:
    budget = None
    if budget_path is not None and budget_path.exists():
        shares = Shares.for_rates(s.requests_per_minute, s.provision_requests_per_minute)
        budget = KeyBudget(budget_path, key_id(base_url, s.api_key.get_secret_value()), shares)
    client = LitmosClient(base_url, s.api_key, s.source, requests_per_minute=None,
                          budget=budget, lane=PROVISION, max_retries=0,
                          timeout_s=min(s.timeout_s, TIMEOUT_S))
    try:
        yield client
    finally:
        client.close()
        if budget is not None:
            budget.close()


def _first_call(client: LitmosClient, host: str, port: int) -> Verdict | None:
    """None when Litmos answered the user list; else why not."""
    try:
        answer = client.request("GET", "/users", what="user list",
                                params={"start": "0", "limit": "1"})
        parse_page(answer.content, answer.headers.get("content-type"), "user list")
    except LitmosAuthError:
        return fail("Litmos key", f"{host} refused LITMOS_API_KEY (401): a wrong or revoked "
                                  "key")
    except LitmosParseError:
        return fail("Litmos host", f"{host} answered, but not with a Litmos user list: check "
                                   "LITMOS_BASE_URL")
    except LitmosError as exc:
        return _failure(exc, host, port, client)
    return None


def _failure(exc: LitmosError, host: str, port: int, client: LitmosClient) -> Verdict:
    reason = exc.reason or ""
    if exc.status == 403:
        return fail("Litmos key", f"{host} answered 403 Forbidden: the key has no API access, "
                                  "or LITMOS_SOURCE is refused")
    if exc.status == 400:
        return fail("Litmos source", f"{host} refused the request (400 Bad Request): check "
                                     "LITMOS_SOURCE (1 to 50 characters)")
    if exc.status == 404:
        return fail("Litmos host", f"{host} has no Litmos API at {urlsplit(client.base_url).path}"
                                   ": check LITMOS_BASE_URL (a region, or a URL ending in "
                                   "/v1.svc)")
    if reason == "ConnectError":
        return fail("Litmos host", f"cannot connect to {host}:{port} (LITMOS_BASE_URL): "
                                   "refused or unreachable")
    if "Timeout" in reason:
        return fail("Litmos host", f"{host}:{port} did not answer in time (LITMOS_BASE_URL, "
                                   "LITMOS_TIMEOUT_S)")
    if reason.startswith("HTTP 5") or reason == "HTTP 429":
        return fail("Litmos API", f"{host} answered {reason}: Litmos is down or limiting the "
                                  "key's rate; try again in a minute")
    return fail("Litmos API", str(exc))


def _other_regions(s: cfg.LitmosSettings, refused: Verdict) -> Verdict:
    """A refused key, asked of the other regions' hosts: a key of another region says so."""
    if s.base_url not in cfg.LITMOS_REGIONS.values():
        return refused  # a custom URL: no other host to ask
    for region, url in cfg.LITMOS_REGIONS.items():
        if url == s.base_url:
            continue
        with _client(s, url, None) as other:
            try:
                other.request("GET", "/users", what="user list",
                              params={"start": "0", "limit": "1"})
            except (LitmosError, OSError):
                continue
        return fail("Litmos region", f"{urlsplit(s.base_url).hostname} refused LITMOS_API_KEY, "
                                     f"but the {region} host accepts it: set "
                                     f"LITMOS_BASE_URL={region}")
    return fail(refused.item, refused.detail + "; no other Litmos region accepts it either")


def _courses(client: LitmosClient, course_ids: tuple[str, ...]) -> Verdict:
    if not course_ids:
        return ok("Litmos courses", "LITMOS_COURSE_IDS is not set: every course is synced")
    asked = list(course_ids)
    if len(asked) > MAX_COURSE_GETS:
        asked = sorted(random.sample(asked, MAX_COURSE_GETS))
    sampled = (f" (a sample of {len(asked)} of {len(course_ids)})"
               if len(asked) < len(course_ids) else "")
    missing = []
    try:
        for course_id in asked:
            path = COURSE.one_path.format(id=path_segment(course_id, "course id"))
            if client.get_one(path, COURSE.one_what.format(id=course_id)) is None:
                missing.append(course_id)
    except LitmosError as exc:
        return fail("Litmos courses", str(exc))
    if missing:
        return fail("Litmos courses", "LITMOS_COURSE_IDS lists courses Litmos does not know: "
                                      + ", ".join(missing) + sampled)
    return ok("Litmos courses", f"all {len(asked)} course ids in LITMOS_COURSE_IDS found"
                                + sampled)
