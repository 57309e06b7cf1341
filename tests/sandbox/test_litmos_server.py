"""The Litmos sandbox over real HTTP on loopback."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from litmos_sandbox.litmos import (
    FaultConfig,
    FaultRule,
    LitmosSandbox,
    main,
)
from litmos_sandbox.litmos.tenant import Tenant, TenantSpec

XSI_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"


def client_for(sb: LitmosSandbox, **params: str) -> httpx.Client:
    return httpx.Client(base_url=sb.base_url, headers={"apikey": sb.api_key},
                        params={"source": "tests", **params}, timeout=10)


def xml_rows(body: bytes) -> list[dict[str, str | None]]:
    """A list response as dicts of text (None for i:nil)."""
    root = ET.fromstring(body)
    return [{c.tag: (None if c.get(XSI_NIL) == "true" else c.text or "") for c in item}
            for item in root]


def as_text(value: Any) -> str | None:
    """A JSON value as the XML would spell it."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def fetch_all(client: httpx.Client, path: str, limit: int = 1000) -> tuple[list[dict], int]:
    """Pages a list until a short page; returns rows and the request count."""
    rows: list[dict] = []
    requests = 0
    while True:
        r = client.get(path, params={"start": len(rows), "limit": limit, "format": "json"})
        requests += 1
        assert r.status_code == 200, r.text
        page = r.json()
        rows.extend(page)
        if len(page) < limit:
            return rows, requests


@pytest.fixture(scope="module")
def small_sb() -> Iterator[LitmosSandbox]:
    with LitmosSandbox(TenantSpec.preset("small"), rate_limit_per_minute=None) as sb:
        yield sb


@pytest.fixture()
def tiny_sb() -> Iterator[LitmosSandbox]:
    with LitmosSandbox("tiny", rate_limit_per_minute=None) as sb:
        yield sb


# -- paging -------------------------------------------------------------------------


@pytest.mark.parametrize("n", [999, 1000, 1001])
def test_paging_boundaries(n: int) -> None:
    spec = TenantSpec(users=n, teams=1, courses=1, enrollments=n, inactive_share=0.0,
                      members_per_team=n, members_jitter=0)
    with LitmosSandbox(spec, rate_limit_per_minute=None) as sb, client_for(sb) as client:
        tenant = sb.tenant
        team, course = tenant.teams()[0], tenant.courses()[0]
        expected_requests = n // 1000 + 1
        for path, expected_ids in (
            ("/users", [u.id for u in tenant.users()]),
            (f"/teams/{team.id}/users", [u.id for u in tenant.team_members(team.id)]),
            (f"/courses/{course.id}/users", [e.user_id for e in
                                             tenant.course_enrollments(course.id)]),
        ):
            rows, requests = fetch_all(client, path)
            assert [r["Id"] for r in rows] == expected_ids
            assert len(rows) == n
            assert requests == expected_requests, path
        capped = client.get("/users", params={"limit": 5000, "format": "json"}).json()
        assert len(capped) == min(n, 1000)
        paginated = client.get("/users/paginated", params={"start": 990, "limit": 1000})
        root = ET.fromstring(paginated.content)
        assert root.findtext("Pagination/TotalCount") == str(n)
        assert root.findtext("Pagination/Start") == "990"
        assert len(root.find("Items")) == n - 990


def test_limit_defaults_to_100(small_sb: LitmosSandbox) -> None:
    with client_for(small_sb, format="json") as client:
        assert len(client.get("/users").json()) == 100
        assert client.get("/users", params={"start": 5000}).json() == []
        assert client.get("/users", params={"limit": "many"}).status_code == 400


def test_search_and_show_inactive(small_sb: LitmosSandbox) -> None:
    tenant = small_sb.tenant
    with client_for(small_sb, format="json", limit="1000") as client:
        active = client.get("/users", params={"showInactive": "false"}).json()
        assert len(active) == 950 and all(u["Active"] for u in active)
        target = tenant.users()[123]
        found = client.get("/users", params={"search": target.email}).json()
        assert [u["Id"] for u in found] == [target.id]
        team = tenant.teams()[0]
        assert [t["Id"] for t in client.get("/teams", params={"search": team.name}).json()] \
            == [team.id]


# -- formats --------------------------------------------------------------------------


def test_xml_and_json_carry_the_same_records(small_sb: LitmosSandbox) -> None:
    tenant = small_sb.tenant
    user = tenant.users()[10]
    course = max(tenant.courses(), key=lambda c: len(c.enrollees))
    team = next(t for t in tenant.teams() if t.parent >= 0)
    list_paths = ["/users", "/teams", "/courses", f"/courses/{course.id}/users",
                  f"/users/{user.id}/courses", f"/users/{user.id}/teams",
                  f"/teams/{team.id}/users", f"/teams/{team.id}/leaders",
                  f"/teams/{team.id}/admins", f"/teams/{team.id}/courses",
                  f"/teams/{tenant.team_row(team)[3]}/teams",
                  f"/courses/{course.id}/modules"]
    with client_for(small_sb, limit="300") as client:
        for path in list_paths:
            xml = client.get(path)
            js = client.get(path, params={"format": "json"})
            assert xml.headers["content-type"] == "application/xml; charset=utf-8"
            assert js.headers["content-type"] == "application/json; charset=utf-8"
            expected = [{k: as_text(v) for k, v in row.items()} for row in js.json()]
            assert xml_rows(xml.content) == expected, path
            assert expected, f"{path} should not be empty in the small tenant"
        for path in (f"/users/{user.id}", f"/teams/{team.id}", f"/courses/{course.id}"):
            xml = ET.fromstring(client.get(path).content)
            js = client.get(path, params={"format": "json"}).json()
            assert {c.tag: (None if c.get(XSI_NIL) == "true" else c.text or "")
                    for c in xml} == {k: as_text(v) for k, v in js.items()}, path


def test_record_shapes_and_values(small_sb: LitmosSandbox) -> None:
    tenant = small_sb.tenant
    team = next(t for t in tenant.teams() if t.parent >= 0)
    with client_for(small_sb, format="json") as client:
        detail = client.get(f"/teams/{team.id}").json()
        parent = tenant.parent_team(team.id)
        assert parent is not None and detail["ParentTeamId"] == parent.id
        top = next(t for t in tenant.teams() if t.parent < 0)
        assert client.get(f"/teams/{top.id}").json()["ParentTeamId"] == ""
        subs = client.get(f"/teams/{parent.id}/teams").json()
        assert team.id in [s["Id"] for s in subs]
        user = client.get(f"/users/{tenant.users()[0].id}").json()
        assert {"FullName", "LastLogin", "CustomField10", "Points", "OriginalId"} <= set(user)
        assert user["Password"] == ""
        course = tenant.courses()[0]
        rows = client.get(f"/courses/{course.id}/users", params={"limit": 1000}).json()
        for row in rows:
            assert set(row) == {"Id", "UserName", "FirstName", "LastName", "Completed",
                                "PercentageComplete", "CompliantTill", "DueDate",
                                "AccessTillDate"}
            assert (row["PercentageComplete"] == 100) == row["Completed"]
        uid = rows[0]["Id"]
        mine = client.get(f"/users/{uid}/courses").json()
        entry = next(c for c in mine if c["Id"] == course.id)
        assert entry["Complete"] == rows[0]["Completed"]
        assert entry["PercentageComplete"] == rows[0]["PercentageComplete"]
        assert entry["CompliantTill"] == rows[0]["CompliantTill"]
        single = client.get(f"/users/{uid}/courses/{course.id}").json()
        assert single == entry


def test_xml_escapes_markup_in_values() -> None:
    tenant = Tenant.from_preset("tiny")
    course = tenant.courses()[0]
    course.name = "HTML <basics> & CSS"
    with LitmosSandbox(tenant, rate_limit_per_minute=None) as sb, client_for(sb) as client:
        body = client.get(f"/courses/{course.id}").content
        assert b"HTML &lt;basics&gt; &amp; CSS" in body
        assert ET.fromstring(body).findtext("Name") == "HTML <basics> & CSS"


# -- errors ---------------------------------------------------------------------------


def test_auth_source_and_not_found(small_sb: LitmosSandbox) -> None:
    url = small_sb.base_url
    key = small_sb.api_key
    assert httpx.get(f"{url}/users", params={"source": "t"}).status_code == 401
    wrong = httpx.get(f"{url}/users", params={"source": "t"}, headers={"apikey": "nope"})
    assert wrong.status_code == 401 and key not in wrong.text
    assert httpx.get(f"{url}/users", params={"source": "t", "apikey": key}).status_code == 200
    assert httpx.get(f"{url}/users", headers={"apikey": key}).status_code == 400
    assert httpx.get(f"{url}/users", params={"source": "x" * 51},
                     headers={"apikey": key}).status_code == 400
    assert httpx.get(f"{url}/users", params={"source": "x" * 50},
                     headers={"apikey": key}).status_code == 200
    with client_for(small_sb) as client:
        for path in ("/users/unknownid000", "/teams/unknownid000/users",
                     "/courses/unknownid000/users", "/courses/unknownid000", "/nothing"):
            assert client.get(path).status_code == 404, path
        assert client.patch("/users").status_code in (404, 405, 501)
        assert client.put("/courses").status_code == 405


# -- writes ---------------------------------------------------------------------------


def test_create_update_delete_user(tiny_sb: LitmosSandbox) -> None:
    with client_for(tiny_sb) as client:
        body = ("<User><UserName>zoë.new@example.com</UserName><FirstName>Zoë</FirstName>"
                "<LastName>New</LastName><Email>zoe.new@example.com</Email>"
                "<Active>true</Active><City>Paris</City></User>")
        created = client.post("/users", content=body.encode(),
                              headers={"Content-Type": "application/xml"})
        assert created.status_code == 201
        new_id = ET.fromstring(created.content).findtext("Id")
        assert new_id and len(new_id) == 12
        again = client.post("/users", content=body.encode())
        assert again.status_code == 400
        got = client.get(f"/users/{new_id}", params={"format": "json"}).json()
        assert (got["FirstName"], got["City"], got["Active"]) == ("Zoë", "Paris", True)

        js = client.post("/users", params={"format": "json"},
                         json={"UserName": "json.user@example.com", "FirstName": "Js",
                               "LastName": "On"})
        assert js.status_code == 201 and js.json()["UserName"] == "json.user@example.com"

        upd = client.put(f"/users/{new_id}", params={"format": "json"},
                         json={"FirstName": "Zoé", "Active": False})
        assert upd.status_code == 200 and upd.json()["FirstName"] == "Zoé"
        active_ids = [u["Id"] for u in client.get(
            "/users", params={"showInactive": "false", "format": "json"}).json()]
        assert new_id not in active_ids
        assert client.get(f"/users/{new_id}").status_code == 200

        gone = client.delete(f"/users/{new_id}")
        assert gone.status_code == 200
        assert client.get(f"/users/{new_id}").status_code == 404
        assert client.delete(f"/users/{new_id}").status_code == 404


def test_assign_and_unassign_courses(tiny_sb: LitmosSandbox) -> None:
    tenant = tiny_sb.tenant
    user = tenant.users()[0]
    course = next(c for c in tenant.courses() if tenant.enrollment(user.id, c.id) is None)
    with client_for(tiny_sb, sendmessage="false") as client:
        body = f"<Courses><Course><Id>{course.id}</Id></Course></Courses>"
        r = client.post(f"/users/{user.id}/courses", content=body.encode())
        assert r.status_code == 200
        assert r.content == b"" and "content-type" not in r.headers
        assert client.post(f"/users/{user.id}/courses", content=body.encode()).status_code == 200
        listed = client.get(f"/users/{user.id}/courses", params={"format": "json"}).json()
        entry = next(c for c in listed if c["Id"] == course.id)
        assert (entry["Complete"], entry["PercentageComplete"]) == (False, 0)
        enrollees = client.get(f"/courses/{course.id}/users", params={"format": "json"}).json()
        assert user.id in [e["Id"] for e in enrollees]

        r = client.delete(f"/users/{user.id}/courses/{course.id}")
        assert r.status_code == 200 and r.content == b"" and "content-type" not in r.headers
        assert client.delete(f"/users/{user.id}/courses/{course.id}").status_code == 404
        assert client.get(f"/users/{user.id}/courses/{course.id}").status_code == 404

        js = client.post(f"/users/{user.id}/courses", json=[{"Id": course.id}])
        assert js.status_code == 200
        assert tenant.enrollment(user.id, course.id) is not None
        bad = client.post(f"/users/{user.id}/courses", json=[{"Id": "unknowncours"}])
        assert bad.status_code == 404
    assert tiny_sb.sendmessage_values() == ["false"] * 6
    assert tiny_sb.stats()["sendmessage"] == {"false": 6}


def test_team_member_leader_admin_writes(tiny_sb: LitmosSandbox) -> None:
    tenant = tiny_sb.tenant
    team = tenant.teams()[0]
    members = {u.id for u in tenant.team_members(team.id)}
    outsider = next(u for u in tenant.users() if u.id not in members and u.active)

    def ids(path: str) -> list[str]:
        return [u["Id"] for u in client.get(path, params={"format": "json"}).json()]

    with client_for(tiny_sb) as client:
        body = (f"<Users><User><Id>{outsider.id}</Id></User>"
                f"<User><Id>unknownuser1</Id></User></Users>")
        r = client.post(f"/teams/{team.id}/users", content=body.encode())
        assert r.status_code == 201
        assert outsider.id in ids(f"/teams/{team.id}/users")
        assert team.id in ids(f"/users/{outsider.id}/teams")
        assert client.post(f"/teams/{team.id}/users",
                           json=[{"Id": outsider.id}]).status_code == 201
        assert ids(f"/teams/{team.id}/users").count(outsider.id) == 1

        assert client.delete(f"/teams/{team.id}/users/{outsider.id}").status_code == 200
        assert outsider.id not in ids(f"/teams/{team.id}/users")

        for role in ("leaders", "admins"):
            assert client.put(f"/teams/{team.id}/{role}/{outsider.id}").status_code == 200
            assert outsider.id in ids(f"/teams/{team.id}/{role}")
            assert client.delete(f"/teams/{team.id}/{role}/{outsider.id}").status_code == 200
            assert outsider.id not in ids(f"/teams/{team.id}/{role}")
            assert client.delete(f"/teams/{team.id}/{role}/{outsider.id}").status_code == 404


def test_create_teams_and_sub_teams(tiny_sb: LitmosSandbox) -> None:
    with client_for(tiny_sb, format="json") as client:
        top = client.post("/teams", json={"Name": "Ops & Co", "Description": "d"})
        assert top.status_code == 201 and top.json()["ParentTeamId"] == ""
        top_id = top.json()["Id"]
        sub = client.post(f"/teams/{top_id}/teams",
                          content=b"<Team><Name>Night shift</Name></Team>")
        assert sub.status_code == 201 and sub.json()["ParentTeamId"] == top_id
        assert [t["Id"] for t in client.get(f"/teams/{top_id}/teams").json()] == \
            [sub.json()["Id"]]
        assert client.post("/teams", json={"Description": "no name"}).status_code == 400


# -- rate limit and faults -------------------------------------------------------------


def test_rate_limit_answers_503_and_recovers() -> None:
    with LitmosSandbox("tiny", rate_limit_per_minute=5, rate_window_seconds=1.0) as sb, \
            client_for(sb) as client:
        statuses = [client.get("/users").status_code for _ in range(7)]
        assert statuses == [200] * 5 + [503] * 2
        stats = sb.stats()
        assert stats["rate_limited_503s"] == 2
        assert stats["max_requests_in_window"] == 7
        time.sleep(1.1)
        assert client.get("/users").status_code == 200
        # The control plane needs no key and is never rate limited.
        assert httpx.get(f"{sb.control_url}/stats").json()["rate_limited_503s"] == 2


def test_targeted_faults_fail_exactly_the_next_requests(tiny_sb: LitmosSandbox) -> None:
    tiny_sb.fail_next(2, "503", path_prefix="/users")
    with client_for(tiny_sb) as client:
        assert client.get("/courses").status_code == 200
        assert [client.get("/users").status_code for _ in range(3)] == [503, 503, 200]
        tiny_sb.fail_next(1, "504", method="GET")
        assert client.get("/teams").status_code == 504
        tiny_sb.fail_next(1, "drop", path_prefix="/teams")
        with pytest.raises(httpx.TransportError):
            client.get("/teams")
        assert client.get("/teams").status_code == 200
    injected = tiny_sb.stats()["injected_faults"]
    assert injected == {"503": 2, "504": 1, "drop": 1, "slow": 0, "cut": 0, "malformed": 0,
                        "repeat": 0, "401": 0}


def test_seeded_fault_rates_are_reproducible() -> None:
    def run() -> list[int]:
        faults = FaultConfig.from_rates(fail_rate=0.5, seed=42)
        with LitmosSandbox("tiny", rate_limit_per_minute=None, faults=faults) as sb, \
                client_for(sb) as client:
            return [client.get("/courses").status_code for _ in range(60)]

    first, second = run(), run()
    assert first == second
    assert set(first) == {200, 503, 504}
    assert 10 < first.count(200) < 50


def test_latency_and_slow_faults(tiny_sb: LitmosSandbox) -> None:
    with client_for(tiny_sb) as client:
        tiny_sb.set_faults(latency_ms=60)
        started = time.perf_counter()
        assert client.get("/courses").status_code == 200
        assert time.perf_counter() - started >= 0.06
        tiny_sb.set_faults(rules=(FaultRule("slow", count=1, slow_ms=300),))
        with pytest.raises(httpx.ReadTimeout):
            client.get("/courses", timeout=0.1)
        assert client.get("/courses").status_code == 200


def test_control_endpoints(tiny_sb: LitmosSandbox) -> None:
    ctl = tiny_sb.control_url
    config = {"rules": [{"kind": "503", "count": 1, "path_prefix": "/courses"}]}
    assert httpx.post(f"{ctl}/faults", json=config).status_code == 200
    with client_for(tiny_sb) as client:
        assert client.get("/courses").status_code == 503
        assert client.get("/courses").status_code == 200
    stats = httpx.get(f"{ctl}/stats").json()
    assert stats["total_requests"] == 2
    assert stats["requests_by_kind"] == {"GET /courses": 2}
    assert stats["statuses"] == {"200": 1, "503": 1}
    assert stats["injected_faults"]["503"] == 1
    assert httpx.post(f"{ctl}/reset-stats").status_code == 200
    assert httpx.get(f"{ctl}/stats").json()["total_requests"] == 0
    assert httpx.post(f"{ctl}/faults", json={"bogus": 1}).status_code == 400
    limited = httpx.post(f"{ctl}/rate-limit", json={"per_minute": 1})
    assert limited.json()["per_minute"] == 1
    with client_for(tiny_sb) as client:
        assert [client.get("/courses").status_code for _ in range(2)] == [200, 503]


# -- determinism, keep-alive, CLI ---------------------------------------------------------


def test_same_seed_same_bytes() -> None:
    spec = TenantSpec.preset("small")
    bodies = []
    for _ in range(2):
        with LitmosSandbox(spec, rate_limit_per_minute=None) as sb, client_for(sb) as client:
            course = sb.tenant.courses()[4]
            user = sb.tenant.users()[77]
            bodies.append([client.get(p, params={"limit": 1000}).content for p in (
                "/users", "/teams", "/courses", f"/courses/{course.id}/users",
                f"/users/{user.id}", f"/users/{user.id}/courses")])
    assert bodies[0] == bodies[1]
    with LitmosSandbox(TenantSpec.preset("small", seed=9), rate_limit_per_minute=None) as sb, \
            client_for(sb) as client:
        assert client.get("/users", params={"limit": 1000}).content != bodies[0][0]


def test_keep_alive_serves_many_requests_on_one_connection(tiny_sb: LitmosSandbox) -> None:
    conn = http.client.HTTPConnection(tiny_sb.host, tiny_sb.port, timeout=5)
    try:
        for _ in range(5):
            conn.request("GET", "/v1.svc/courses?source=t", headers={"apikey": tiny_sb.api_key})
            response = conn.getresponse()
            assert response.status == 200
            assert int(response.getheader("Content-Length")) == len(response.read())
        assert conn.sock is not None  # still the same open socket
    finally:
        conn.close()


def test_large_page_serialises_quickly() -> None:
    tenant = Tenant.generate(TenantSpec.preset("medium"))
    course = max(tenant.courses(), key=lambda c: len(c.enrollees))
    with LitmosSandbox(tenant, rate_limit_per_minute=None) as sb, client_for(sb) as client:
        client.get(f"/courses/{course.id}/users", params={"limit": 1000})  # warm up
        started = time.perf_counter()
        for i in range(10):
            r = client.get(f"/courses/{course.id}/users", params={"limit": 1000,
                                                                  "start": i * 1000})
            assert r.status_code == 200 and r.content.count(b"<User>") == 1000
        per_page = (time.perf_counter() - started) / 10
    assert per_page < 0.1, f"{per_page * 1000:.0f} ms per 1000-row page"


def test_cli_refuses_non_loopback_host(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--host", "0.0.0.0", "--preset", "tiny"]) == 2
    assert "loopback" in capsys.readouterr().err


def test_cli_serves_until_sigterm() -> None:
    code = "from litmos_sandbox.litmos import main; raise SystemExit(main())"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "--preset", "tiny", "--api-key", "cli-secret-key",
         "--rate-limit", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        ready = json.loads(proc.stdout.readline())
        assert ready["pid"] == proc.pid and ready["api_key"] == "cli-secret-key"
        assert ready["base_url"].startswith("http://127.0.0.1:")
        r = httpx.get(f"{ready['base_url']}/users", params={"source": "cli"},
                      headers={"apikey": "cli-secret-key"})
        assert r.status_code == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert proc.stderr is not None
        err = proc.stderr.read()
        assert "cli-secret-key" not in err and err == ""
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
