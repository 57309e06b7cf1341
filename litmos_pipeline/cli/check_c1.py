"""`check` against C1: parse the credentials, request one token, compare the clocks.

A malformed client id or secret is found offline; a refused token request means a
revoked (or expired, or mistyped) secret, or a client of another tenant; the token
endpoint's `Date` header against the local clock finds a skew that would get every
client assertion refused (they are valid for 2 minutes either side).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime

import httpx

from litmos_pipeline import settings as cfg
from litmos_pipeline.c1.credentials import (
    ASSERTION_SKEW_S,
    C1CredentialsError,
    C1TokenError,
    TokenSource,
    default_token_url,
    parse_client_id,
    parse_client_secret,
)
from litmos_pipeline.cli.verdicts import Verdict, fail, ok, warn

TIMEOUT_S = 15.0
SKEW_WARN_S = 30.0  # well inside the assertion's window, but worth fixing
CLOCK_RESOLUTION_S = 2.0  # the Date header's whole seconds, and the answer's time in flight


def probe(s: cfg.C1Settings, clock: Callable[[], float] = time.time) -> list[Verdict]:
    """Verdicts on the credentials' format, the token request and the clock."""
    secret = s.client_secret.get_secret_value()
    try:
        tenant_host = parse_client_id(s.client_id).tenant_host
        parse_client_secret(secret)
        token_url = default_token_url(tenant_host, s.api_url)
    except C1CredentialsError as exc:
        return [fail("C1 credentials", str(exc))]
    verdicts = [ok("C1 credentials", f"C1_CLIENT_ID and C1_CLIENT_SECRET are well formed "
                                     f"(tenant {tenant_host})")]
    dates: list[tuple[float, str]] = []  # (local time on receipt, the server's Date header)

    def seen(response: httpx.Response) -> None:
        dates.append((clock(), response.headers.get("date", "")))

    with httpx.Client(timeout=TIMEOUT_S, event_hooks={"response": [seen]}) as http, \
            TokenSource(s.client_id, secret, token_url, http=http, clock=clock) as tokens:
        try:
            tokens.token()
            token = ok("C1 token", f"{token_url} issued a token")
        except C1TokenError as exc:
            token = fail("C1 token", _token_failure(exc))
    skew = _skew(dates, tenant_host)
    if token.failed and skew is not None and skew.failed:
        token = fail(token.item, token.detail + "; the clock skew below is the likely cause")
    return [*verdicts, token, *([skew] if skew is not None else [])]


def _token_failure(exc: C1TokenError) -> str:
    if exc.status_code in (400, 401, 403):
        return (f"{exc}: a revoked, expired or mistyped C1_CLIENT_SECRET, or a client of "
                "another tenant")
    if exc.status_code is None:
        return f"{exc} (C1_CLIENT_ID's tenant host, or C1_API_URL)"
    return str(exc)


def _skew(dates: list[tuple[float, str]], tenant_host: str) -> Verdict | None:
    """The local clock against the token endpoint's Date header (None: no answer)."""
    if not dates:
        return None
    received, header = dates[-1]
    try:
        server = parsedate_to_datetime(header).timestamp()
    except (TypeError, ValueError):
        return warn("C1 clock", "the token endpoint sent no usable Date header: clock skew "
                                "not checked")
    skew = received - server
    if abs(skew) <= CLOCK_RESOLUTION_S:
        return ok("C1 clock", f"the local clock agrees with {tenant_host}'s (within "
                              f"{CLOCK_RESOLUTION_S:.0f}s)")
    ahead = "ahead of" if skew > 0 else "behind"
    figures = f"the local clock is {abs(skew):.0f}s {ahead} {tenant_host}'s"
    if abs(skew) > ASSERTION_SKEW_S:
        return fail("C1 clock", f"{figures}: client assertions are valid for "
                                f"{ASSERTION_SKEW_S}s either side, so C1 refuses them; "
                                "set the clock (NTP)")
    if abs(skew) > SKEW_WARN_S:
        return warn("C1 clock", f"{figures}: within the {ASSERTION_SKEW_S}s C1 allows, but "
                                "set the clock (NTP)")
    return ok("C1 clock", f"{figures} (less than {SKEW_WARN_S:.0f}s)")
