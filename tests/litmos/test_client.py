"""The Litmos client against the sandbox over real HTTP on loopback."""

from __future__ import annotations

import pytest

from litmos_pipeline.litmos.client import LitmosAuthError, LitmosClient, LitmosError
from litmos_pipeline.sandbox.litmos_server import FaultRule, LitmosSandbox
from litmos_pipeline.sandbox.tenant import Tenant, TenantSpec


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
