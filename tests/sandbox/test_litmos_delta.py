"""The Litmos sandbox's delta (date-range) queries over real HTTP: the window, its 400s,
paging, XML and JSON, the two removal modes and the controls."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from litmos_sandbox.litmos import LitmosSandbox
from litmos_sandbox.litmos.cli import _build_parser
from litmos_sandbox.litmos.tenant import ManualClock, TenantSpec
from tests.sandbox.test_litmos_server import as_text, client_for, xml_rows

T0 = datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC)
DAY = timedelta(days=1)
PATHS = {
    "users": "/org/users/details", "logins": "/org/users/logins", "teams": "/org/teams",
    "team_users": "/org/teams/users", "user_courses": "/org/users/courses",
    "results": "/org/results/details", "courses": "/org/courses",
}
ELEMENTS = {
    "users": ("Users", "User"), "logins": ("Users", "User"), "teams": ("Teams", "Team"),
    "team_users": ("TeamUsers", "TeamUser"), "user_courses": ("UserCourses", "UserCourse"),
    "results": ("UserResults", "UserResult"), "courses": ("Courses", "Course"),
}


def when(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S")


def delta(client: httpx.Client, kind: str, since: datetime = T0 - DAY,
          to: datetime = T0 + DAY, **params: Any) -> list[dict[str, Any]]:
    r = client.get(PATHS[kind], params={"since": when(since), "to": when(to),
                                        "format": "json", "limit": 1000, **params})
    assert r.status_code == 200, r.text
    return r.json()


def by_pair(records: list[dict[str, Any]], first: str, second: str) -> dict[tuple, dict]:
    return {(r[first], r[second]): r for r in records}


@pytest.fixture()
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture()
def sb(clock: ManualClock) -> Iterator[LitmosSandbox]:
    with LitmosSandbox("tiny", rate_limit_per_minute=None, clock=clock) as sandbox:
        yield sandbox


def test_window_holds_the_changes_from_since_up_to_to(sb: LitmosSandbox,
                                                     clock: ManualClock) -> None:
    first, second = sb.tenant.users()[:2]
    with client_for(sb) as client:
        for kind in PATHS:  # generated records are dated in the tenant's past
            assert delta(client, kind) == [], kind
        assert client.put(f"/users/{first.id}", json={"Active": False}).status_code == 200
        clock.advance(3600)
        assert client.put(f"/users/{second.id}", json={"FirstName": "Ré"}).status_code == 200

        def ids(since: datetime, to: datetime) -> list[str]:
            return [u["Id"] for u in delta(client, "users", since, to)]

        hour = timedelta(hours=1)
        assert ids(T0, T0 + hour) == [first.id]  # since is inclusive...
        assert ids(T0 - hour, T0) == []  # ... to is not
        assert ids(T0 + hour, T0 + 2 * hour) == [second.id]
        assert ids(T0 - DAY, T0 + DAY) == [first.id, second.id]  # by change time
        record = delta(client, "users")[0]
        single = client.get(f"/users/{first.id}", params={"format": "json"}).json()
        assert record == {**single, "UpdatedDate": "2026-03-02T09:00:00.000Z"}
        assert record["Active"] is False and record["LoginKey"]

        clock.advance(60)
        login = httpx.post(f"{sb.control_url}/login", json={"user_id": first.id}).json()
        assert login == {"user_id": first.id, "last_login": "2026-03-02T10:01:00.000"}
        logins = delta(client, "logins")
        assert [(u["Id"], u["LastLogin"]) for u in logins] == [(first.id, login["last_login"])]
        assert logins[0]["UpdatedDate"] == "2026-03-02T09:00:00.000Z"  # not an update
        assert ids(T0 + hour + timedelta(seconds=1), T0 + DAY) == []
        assert httpx.post(f"{sb.control_url}/login", json={"user_id": "nobody"}).status_code \
            == 404


@pytest.mark.parametrize(("params", "message"), [
    ({}, "since is required"),
    ({"since": "2026-03-01 00:00:00"}, "to is required"),
    ({"since": "2026-03-01", "to": "2026-03-02 00:00:00"}, "YYYY-MM-DD HH:MM:SS"),
    ({"since": "2026-03-01T00:00:00", "to": "2026-03-02 00:00:00"}, "YYYY-MM-DD HH:MM:SS"),
    ({"since": "2026-3-1 00:00:00", "to": "2026-03-02 00:00:00"}, "YYYY-MM-DD HH:MM:SS"),
    ({"since": "2026-03-01 00:00:00", "to": "2026-02-30 00:00:00"}, "YYYY-MM-DD HH:MM:SS"),
    ({"since": "2026-03-01 00:00:00", "to": "2026-03-01 00:00:00"}, "later than since"),
    ({"since": "2026-03-02 00:00:00", "to": "2026-03-01 00:00:00"}, "later than since"),
    ({"since": "2026-03-01 00:00:00", "to": "2026-03-08 00:00:01"}, "7 days or less"),
])
def test_bad_windows_answer_400(sb: LitmosSandbox, params: dict[str, str],
                                message: str) -> None:
    with client_for(sb) as client:
        for path in PATHS.values():
            r = client.get(path, params=params)
            assert r.status_code == 400 and message in r.text, (path, r.text)


def test_a_seven_day_window_and_the_usual_key_and_source_rules(sb: LitmosSandbox) -> None:
    week = {"since": "2026-03-01 00:00:00", "to": "2026-03-08 00:00:00"}
    with client_for(sb) as client:
        assert client.get("/org/teams", params=week).status_code == 200
    assert httpx.get(f"{sb.base_url}/org/teams", params={**week, "source": "t"}).status_code \
        == 401
    assert httpx.get(f"{sb.base_url}/org/teams", params=week,
                     headers={"apikey": sb.api_key}).status_code == 400  # no source
    sb.fail_next(1, "503", path_prefix="/org/teams")
    with client_for(sb) as client:
        assert client.get("/org/teams", params=week).status_code == 503
        assert client.get("/org/teams", params=week).status_code == 200
    assert sb.stats()["requests_by_kind"]["GET /org/teams"] == 5


def test_paging_at_limit_1000_and_start(clock: ManualClock) -> None:
    spec = TenantSpec(users=1_200, teams=1, courses=1, enrollments=10, inactive_share=0.0,
                      members_per_team=3, members_jitter=0)
    with LitmosSandbox(spec, rate_limit_per_minute=None, clock=clock) as sb, \
            client_for(sb) as client:
        first = sb.mutate(seed=1, deactivate_users=500)["touched"]["deactivate_users"]
        clock.advance(1)
        second = sb.mutate(seed=2, deactivate_users=600)["touched"]["deactivate_users"]
        expected = sorted(first) + sorted(second)  # change time first, then id
        pages = [delta(client, "users", start=s, limit=1000) for s in (0, 1000, 2000)]
        assert [len(p) for p in pages] == [1000, 100, 0]
        assert [u["Id"] for p in pages for u in p] == expected
        assert [u["Id"] for u in delta(client, "users", start=1050, limit=30)] == \
            expected[1050:1080]
        assert len(delta(client, "users", limit=5000)) == 1000  # capped
        r = client.get("/org/users/details", params={"since": when(T0), "to": when(T0 + DAY)})
        assert r.status_code == 200 and len(ET.fromstring(r.content)) == 100  # default limit
        stamps = [u["UpdatedDate"] for u in delta(client, "users", start=490, limit=20)]
        assert stamps == ["2026-03-02T09:00:00.000Z"] * 10 + ["2026-03-02T09:00:01.000Z"] * 10


def test_xml_and_json_carry_the_same_delta_records(sb: LitmosSandbox) -> None:
    sb.mutate(seed=4, deactivate_users=2, unassign_courses=2, complete_courses=2,
              add_team_members=2, remove_team_members=1, grant_team_roles=1,
              revoke_team_roles=1)
    sb.record_login(sb.tenant.users()[3].id)
    with client_for(sb) as client:
        team = sb.tenant.teams()[1]
        assert client.put(f"/teams/{team.id}", json={"Name": "R&D <West>"}).status_code == 200
        course = sb.tenant.courses()[2]
        assert httpx.post(f"{sb.control_url}/delete-course",
                          json={"course_id": course.id}).json() == {"deleted": course.id}
        for kind, path in PATHS.items():
            window = {"since": when(T0 - DAY), "to": when(T0 + DAY)}
            xml = client.get(path, params=window)
            assert xml.status_code == 200 and xml.headers["content-type"].startswith(
                "application/xml")
            root, item = ELEMENTS[kind]
            doc = ET.fromstring(xml.content)
            assert doc.tag == root and all(child.tag == item for child in doc)
            as_json = [{k: as_text(v) for k, v in r.items()} for r in delta(client, kind)]
            assert as_json and xml_rows(xml.content) == as_json, kind


@pytest.mark.parametrize("mode", ["active_false", "silent"])
def test_removals_by_mode(mode: str, clock: ManualClock) -> None:
    with LitmosSandbox("tiny", rate_limit_per_minute=None, clock=clock,
                       delta_removals=mode) as sb, client_for(sb) as client:
        tenant = sb.tenant
        team, doomed_team = tenant.teams()[0], tenant.teams()[2]
        leader = tenant.team_leaders(team.id)[0]
        roles = {leader.id, *(u.id for u in tenant.team_admins(team.id))}
        member = next(u for u in tenant.team_members(team.id) if u.id not in roles)
        outsider = next(u for u in tenant.users() if u.active and u.id not in
                        {m.id for m in tenant.team_members(team.id)} | roles)
        course, doomed_course = tenant.courses()[0], tenant.courses()[1]
        enrollee = tenant.course_enrollments(course.id)[0].user_id
        doomed_enrollees = [e.user_id for e in tenant.course_enrollments(doomed_course.id)]
        doomed_members = [u.id for u in tenant.team_members(doomed_team.id)]
        deactivated = next(u for u in tenant.team_members(tenant.teams()[1].id)
                           if u.active and u.id not in {member.id, leader.id, outsider.id})
        assert doomed_enrollees and doomed_members

        assert client.delete(f"/teams/{team.id}/users/{member.id}").status_code == 200
        assert client.delete(f"/teams/{team.id}/leaders/{leader.id}").status_code == 200
        add = [{"Id": outsider.id}]  # added, removed, added again
        assert client.post(f"/teams/{team.id}/users", json=add).status_code == 201
        assert client.delete(f"/teams/{team.id}/users/{outsider.id}").status_code == 200
        assert client.post(f"/teams/{team.id}/users", json=add).status_code == 201
        assert client.delete(f"/users/{enrollee}/courses/{course.id}").status_code == 200
        assert client.put(f"/users/{deactivated.id}", json={"Active": False}).status_code \
            == 200
        assert client.delete(f"/teams/{doomed_team.id}").status_code == 200
        sb.vanish_course_after_listing(doomed_course.id)
        client.get("/courses")  # lists it, then it is gone

        pairs = by_pair(delta(client, "team_users"), "TeamId", "Id")
        assignments = by_pair(delta(client, "user_courses"), "Id", "UserId")
        results = by_pair(delta(client, "results"), "Id", "UserId")
        teams = {t["Id"]: t for t in delta(client, "teams")}
        courses = {c["Id"]: c for c in delta(client, "courses")}
        # Updates, in both modes: a role removed from a member, a re-added member, a
        # deactivation (its memberships are no longer listed: Active=false).
        assert (pairs[(team.id, leader.id)]["Active"],
                pairs[(team.id, leader.id)]["IsTeamLeader"]) == (True, False)
        assert pairs[(team.id, outsider.id)]["Active"] is True
        assert [u["Active"] for u in delta(client, "users")] == [False]
        for t in tenant.user_teams(deactivated.id):
            assert pairs[(t.id, deactivated.id)]["Active"] is False
        removed = [pairs.get((team.id, member.id)), assignments.get((course.id, enrollee)),
                   results.get((course.id, enrollee)), teams.get(doomed_team.id),
                   courses.get(doomed_course.id),
                   *(pairs.get((doomed_team.id, u)) for u in doomed_members),
                   *(assignments.get((doomed_course.id, u)) for u in doomed_enrollees)]
        if mode == "silent":
            assert removed == [None] * len(removed)
            return
        assert all(r is not None and r["Active"] is False for r in removed)
        gone = pairs[(team.id, member.id)]
        assert (gone["IsTeamLeader"], gone["IsTeamAdmin"], gone["CreatedDate"]) == \
            (False, False, None)
        assert results[(course.id, enrollee)]["Completed"] is False
        assert results[(course.id, enrollee)]["PercentageComplete"] == 0
        assert teams[doomed_team.id]["Name"] == doomed_team.name
        assert courses[doomed_course.id]["Code"] == doomed_course.code

        # The mode is read at query time: switching it drops the tombstones.
        ctl = f"{sb.control_url}/delta-removals"
        assert httpx.post(ctl, json={"mode": "silent"}).json() == {"mode": "silent"}
        assert httpx.get(ctl).json() == {"mode": "silent"}
        assert (team.id, member.id) not in by_pair(delta(client, "team_users"), "TeamId", "Id")
        assert httpx.post(ctl, json={"mode": "loud"}).status_code == 400


def test_clock_control_and_cli_flag(sb: LitmosSandbox) -> None:
    ctl = f"{sb.control_url}/clock"
    assert httpx.get(ctl).json() == {"now": "2026-03-02T09:00:00.000Z", "frozen": True}
    assert httpx.post(ctl, json={"now": "2026-04-01 12:00:00"}).json()["now"] == \
        "2026-04-01T12:00:00.000Z"
    assert httpx.post(ctl, json={"advance_seconds": 1.5}).json()["now"] == \
        "2026-04-01T12:00:01.500Z"
    assert httpx.post(ctl, json={"now": "tomorrow"}).status_code == 400
    real = httpx.post(ctl, json={"now": None}).json()
    assert real["frozen"] is False and real["now"] > "2026-04-01"
    assert httpx.post(ctl, json={"advance_seconds": 1}).status_code == 400
    assert _build_parser().parse_args([]).delta_removals == "active_false"
    assert _build_parser().parse_args(["--delta-removals", "silent"]).delta_removals == "silent"
    with pytest.raises(SystemExit):
        _build_parser().parse_args(["--delta-removals", "loud"])
