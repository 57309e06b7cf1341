"""The Litmos client against the sandbox over real HTTP on loopback."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from litmos_pipeline.litmos.budget import KeyBudget, Shares
from litmos_pipeline.litmos.client import (
    MAX_ANSWER_BYTES,
    LitmosAuthError,
    LitmosClient,
    LitmosError,
    LitmosTooLarge,
)
from litmos_pipeline.litmos.ids import UnsafeIdError, shown
from litmos_sandbox.litmos import FaultRule, LitmosSandbox
from litmos_sandbox.litmos.tenant import Tenant, TenantSpec
from tests.conftest import Answer, CannedLitmos


def client_for(sandbox: LitmosSandbox, **kwargs: object) -> LitmosClient:
    options: dict[str, object] = {"requests_per_minute": None, "backoff_base_s": 0.01,
                                  "max_retries": 3}
    options.update(kwargs)
    return LitmosClient(sandbox.base_url, sandbox.api_key, "pytest", **options)  # type: ignore[arg-type]


@pytest.mark.parametrize(("users", "pages"), [(999, 1), (1000, 2), (1001, 2)])
def test_paging_at_the_page_boundary(users: int, pages: int) -> None:
    spec = TenantSpec(users=users, teams=1, courses=1, enrollments=1)
    with LitmosSandbox(Tenant.generate(spec), rate_limit_per_minute=None) as sandbox, \
            client_for(sandbox) as client:
        records = [r for page in client.iter_pages("/users", "users") for r in page]
        assert len(records) == users
        assert len({r["Id"] for r in records}) == users
        assert client.stats.requests == pages
        assert sandbox.stats()["total_requests"] == pages


def test_xml_and_json_answers_give_the_same_records(tiny_sandbox: LitmosSandbox) -> None:
    with client_for(tiny_sandbox, prefer_json=True) as as_json, \
            client_for(tiny_sandbox, prefer_json=False) as as_xml:
        for path in ("/users", "/teams", "/courses"):
            from_json = as_json.list_all(path, path)
            from_xml = as_xml.list_all(path, path)
            assert from_json == from_xml
            assert from_json
    statuses = tiny_sandbox.stats()["statuses"]
    assert statuses  # both formats were served


def test_retries_after_503_and_dropped_connection(tiny_sandbox: LitmosSandbox) -> None:
    tiny_sandbox.fail_next(2, "503", path_prefix="/users")
    tiny_sandbox.add_fault(FaultRule("drop", count=1, path_prefix="/teams"))
    with client_for(tiny_sandbox) as client:
        assert len(client.list_all("/users", "users")) == 10
        assert len(client.list_all("/teams", "teams")) == 3
        assert client.stats.retries == 3
        assert client.stats.rate_limited == 2


def test_gives_up_with_a_clear_error(tiny_sandbox: LitmosSandbox) -> None:
    tiny_sandbox.add_fault(FaultRule("504", count=None, path_prefix="/courses"))
    with client_for(tiny_sandbox, max_retries=2) as client, \
            pytest.raises(LitmosError, match=r"courses \(start=0\): gave up after 3 attempts"):
        client.list_all("/courses", "courses")


def test_wrong_key_is_a_clear_401_without_the_key(tiny_sandbox: LitmosSandbox) -> None:
    wrong = "definitely-not-the-key"
    with LitmosClient(tiny_sandbox.base_url, wrong, "pytest") as client, \
            pytest.raises(LitmosAuthError) as err:
        client.list_all("/users", "users")
    assert "LITMOS_API_KEY" in str(err.value)
    assert wrong not in str(err.value)
    assert wrong not in repr(client)


def test_pacing_stays_under_the_limit() -> None:
    # Scaled down: the sandbox allows 10 requests per 1 s window; we pace at 9 per second.
    spec = TenantSpec(users=10, teams=1, courses=1, enrollments=1)
    with LitmosSandbox(Tenant.generate(spec), rate_limit_per_minute=10,
                       rate_window_seconds=1.0) as sandbox:
        with client_for(sandbox, requests_per_minute=9 * 60, max_retries=0) as client:
            for _ in range(25):
                client.get_one("/users/" + client.list_all("/users", "u")[0]["Id"], "user")
        assert sandbox.stats()["rate_limited_503s"] == 0
        # Unpaced, the same calls trip the limit: the test above can fail.
        with client_for(sandbox, max_retries=0) as client, pytest.raises(LitmosError):
            for _ in range(50):
                client.list_all("/users", "u")


def test_writes_change_the_sandbox(tiny_sandbox: LitmosSandbox) -> None:
    tenant = tiny_sandbox.tenant
    user = tenant.users()[0]
    course = next(c for c in tenant.courses() if tenant.enrollment(user.id, c.id) is None)
    with client_for(tiny_sandbox) as client:
        client.assign_course(user.id, course.id, send_message=False)
        client.assign_course(user.id, course.id, send_message=False)  # idempotent
        assert tenant.enrollment(user.id, course.id) is not None
        assert client.unassign_course(user.id, course.id) is True
        assert client.unassign_course(user.id, course.id) is False  # already gone: 404
        team = tenant.teams()[0]
        outsider = next(u for u in tenant.users() if u not in tenant.team_members(team.id))
        client.add_team_member(team.id, outsider.id)
        assert outsider in tenant.team_members(team.id)
        client.set_team_role(team.id, "leader", outsider.id, present=True)
        assert outsider in tenant.team_leaders(team.id)
        created = client.create_user({"UserName": "new.person", "Email": "n@example.com",
                                      "FirstName": "New", "LastName": "Person"},
                                     send_message=False)
        assert created["Id"] and tenant.user(created["Id"]) is not None
    # Both assigns and the user creation asked Litmos not to send notification emails.
    sent = [v for v in tiny_sandbox.sendmessage_values() if v is not None]
    assert sent == ["false", "false", "false"]


# --------------------------------------------------------------------------- trust (issue 12)

UNSAFE_IDS = ["..", ".", "", "a/b", "%2E%2E", "%2F", "u1?x=1", "u1#x", "u1\n", "é", "a b",
              "x" * 101]


def canned_client(server: CannedLitmos, **kwargs: object) -> LitmosClient:
    options: dict[str, object] = {"requests_per_minute": None, "max_retries": 2,
                                  "backoff_base_s": 0.01}
    options.update(kwargs)
    return LitmosClient(server.base_url, "k", "pytest", **options)  # type: ignore[arg-type]


def _ok(method: str, path: str, query: dict[str, str]) -> Answer:
    return 200, None, b""


WRITES: dict[str, tuple[str, Callable[[LitmosClient, str], object]]] = {
    "unassign course": ("course id", lambda c, bad: c.unassign_course("u1", bad)),
    "unassign from user": ("user id", lambda c, bad: c.unassign_course(bad, "c1")),
    "assign course": ("course id", lambda c, bad: c.assign_course("u1", bad,
                                                                   send_message=False)),
    "remove from team": ("team id", lambda c, bad: c.remove_team_member(bad, "u1")),
    "remove member": ("user id", lambda c, bad: c.remove_team_member("t1", bad)),
    "add member": ("user id", lambda c, bad: c.add_team_member("t1", bad)),
    "remove leader": ("user id", lambda c, bad: c.set_team_role("t1", "leader", bad,
                                                                 present=False)),
    "make admin of": ("team id", lambda c, bad: c.set_team_role(bad, "admin", "u1",
                                                                 present=True)),
}


@pytest.mark.parametrize("write", WRITES)
def test_an_unsafe_id_sends_no_request(canned: Callable[..., CannedLitmos], write: str) -> None:
    # Before the fix, unassign_course("u1", "..") sent DELETE /v1.svc/users/u1.
    what, call = WRITES[write]
    server = canned(_ok)
    with canned_client(server) as client:
        for bad in UNSAFE_IDS:
            with pytest.raises(UnsafeIdError) as err:
                call(client, bad)
            assert what in str(err.value) and shown(bad) in str(err.value)
        assert client.stats.requests == 0
    assert server.requests == []


def test_safe_ids_land_on_exactly_their_paths(canned: Callable[..., CannedLitmos]) -> None:
    server = canned(_ok)
    with canned_client(server) as client:
        client.unassign_course("mVN_K4Q9yuQ1", "c-1_x")
        client.remove_team_member("t1", "u1")
        client.set_team_role("t1", "leader", "u2", present=False)
    assert [(m, p) for m, p, _ in server.requests] == [
        ("DELETE", "/v1.svc/users/mVN_K4Q9yuQ1/courses/c-1_x"),
        ("DELETE", "/v1.svc/teams/t1/users/u1"),
        ("DELETE", "/v1.svc/teams/t1/leaders/u2"),
    ]


def test_an_answer_over_the_cap_fails_its_page_once(canned: Callable[..., CannedLitmos]) -> None:
    server = canned(lambda m, p, q: (200, "application/json", b"[" + b" " * 2000 + b"]"))
    with canned_client(server, max_answer_bytes=1000) as client, \
            pytest.raises(LitmosTooLarge, match=r"Litmos users \(start=0\): answer larger than "
                                                r"1,000 bytes") as err:
        client.list_all("/users", "users")
    assert not err.value.retryable
    assert len(server.requests) == 1  # not retried: asking again gets the same answer


def _endless_transport(sent: list[int], *, declared: str | None = None) -> httpx.MockTransport:
    """Answers with a body of 1 MiB chunks and no length (or a declared one): 80 MiB, past
    the cap, so the old client (which read it all) returned instead of failing."""

    def chunks() -> Iterator[bytes]:
        for _ in range(80):
            sent.append(1)
            yield b" " * 2**20

    def handler(request: httpx.Request) -> httpx.Response:
        headers = {"Content-Type": "application/json"}
        if declared is not None:
            headers["Content-Length"] = declared
        return httpx.Response(200, headers=headers, content=chunks())

    return httpx.MockTransport(handler)


def test_an_endless_answer_is_not_read_past_the_cap() -> None:
    sent: list[int] = []
    with LitmosClient("http://litmos.invalid/v1.svc", "k", "pytest", requests_per_minute=None,
                      transport=_endless_transport(sent)) as client, \
            pytest.raises(LitmosTooLarge, match="courses"):
        client.list_all("/courses", "courses")
    assert MAX_ANSWER_BYTES == 64 * 2**20
    assert len(sent) <= 65  # stopped at the cap (64 MiB), not at the end of the body


def test_a_declared_length_over_the_cap_is_not_read() -> None:
    sent: list[int] = []
    with LitmosClient("http://litmos.invalid/v1.svc", "k", "pytest", requests_per_minute=None,
                      transport=_endless_transport(sent, declared=str(2**40))) as client, \
            pytest.raises(LitmosTooLarge, match="declares 1099511627776 bytes"):
        client.get_one("/users/u1", "user u1")
    assert sent == []


@pytest.mark.parametrize("as_secret", [False, True])
def test_the_api_key_is_sent_but_never_shown(tiny_sandbox: LitmosSandbox,
                                             as_secret: bool) -> None:
    key = tiny_sandbox.api_key
    with LitmosClient(tiny_sandbox.base_url, SecretStr(key) if as_secret else key, "pytest",
                      requests_per_minute=None) as client:
        assert len(client.list_all("/teams", "teams")) == 3  # the sandbox checked the key
        shown_anywhere = [repr(client), str(client), repr(vars(client)), repr(client._http),
                          repr(client._http.headers), str(client._http.headers)]
    assert not [text for text in shown_anywhere if key in text]


def test_every_request_carries_the_key_as_a_header() -> None:
    seen: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("apikey"))
        return httpx.Response(200, headers={"Content-Type": "application/json"}, content=b"[]")

    with LitmosClient("http://litmos.invalid/v1.svc", SecretStr("s3cret"), "pytest",
                      requests_per_minute=None,
                      transport=httpx.MockTransport(handler)) as client:
        client.list_all("/users", "users")
        client.unassign_course("u1", "c1")
    assert seen == ["s3cret", "s3cret"]


def _hammer(sandbox: LitmosSandbox, budget_path: Path | None, clients: int,
            calls: int) -> None:
    """`clients` clients at once, each with its own budget handle (as separate processes
    have), each asking for `calls` pages with no pacing of its own. The key's minute is
    2 s here; the in-flight margin is the real one (1 s): with 0.2 s, a loaded machine
    delayed requests past it and the sandbox saw 13 in a window."""
    def work() -> None:
        budget = None if budget_path is None else KeyBudget(
            budget_path, "k", Shares(12, 4, 2), window_s=2.0, margin_s=1.0, bucket_s=0.05)
        with client_for(sandbox, budget=budget, max_retries=0) as client:
            for _ in range(calls):
                try:
                    client.request("GET", "/users", what="users", params={"limit": "1"})
                except LitmosError:
                    pass
        if budget is not None:
            budget.close()

    threads = [threading.Thread(target=work) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)


def test_clients_sharing_the_key_budget_never_trip_the_key_limit(tmp_path: Path) -> None:
    spec = TenantSpec(users=5, teams=1, courses=1, enrollments=1)
    with LitmosSandbox(Tenant.generate(spec), rate_limit_per_minute=12,
                       rate_window_seconds=2.0) as sandbox:
        _hammer(sandbox, None, clients=3, calls=8)
        assert sandbox.stats()["rate_limited_503s"] > 0  # each paced alone: the key trips
    with LitmosSandbox(Tenant.generate(spec), rate_limit_per_minute=12,
                       rate_window_seconds=2.0) as sandbox:
        _hammer(sandbox, tmp_path / "budget.sqlite", clients=3, calls=8)
        stats = sandbox.stats()
        assert stats["rate_limited_503s"] == 0
        assert stats["total_requests"] == 24
