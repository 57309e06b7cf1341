"""The delta queries agree with the full lists: a full list plus a delta equals a new
full list; results match the course-user lists; generated records are dated by their
creation; mutate is deterministic, reported and fast."""

from __future__ import annotations

import copy
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from litmos_sandbox.litmos import LitmosSandbox
from litmos_sandbox.litmos.tenant import ManualClock, Tenant, TenantSpec
from tests.sandbox.test_litmos_delta import DAY, PATHS, T0, when
from tests.sandbox.test_litmos_server import client_for, fetch_all

SPEC = TenantSpec(users=300, teams=12, courses=8, enrollments=900, seed=5,
                  members_per_team=15, inactive_share=0.1)
MUTATE = dict(seed=7, deactivate_users=10, reactivate_users=5, assign_courses=40,
              unassign_courses=30, complete_courses=30, add_team_members=10,
              remove_team_members=10, grant_team_roles=5, revoke_team_roles=5)


def delta_all(client: httpx.Client, kind: str, since: datetime = T0 - DAY,
              to: datetime = T0 + DAY) -> list[dict[str, Any]]:
    """Every page of a delta query (limit 1000 until a short page)."""
    rows: list[dict[str, Any]] = []
    while True:
        r = client.get(PATHS[kind], params={"since": when(since), "to": when(to),
                                            "start": len(rows), "limit": 1000,
                                            "format": "json"})
        assert r.status_code == 200, r.text
        rows.extend(r.json())
        if len(r.json()) < 1000:
            return rows


def full_state(client: httpx.Client) -> dict[str, Any]:
    """What a full sync reads: users, teams, courses, team roles, enrollments."""
    users = {u["Id"]: (u["UserName"], u["Email"], u["Active"], u["AccessLevel"])
             for u in fetch_all(client, "/users")[0]}
    teams = {t["Id"]: (t["Name"], t["TeamCodeForBulkImport"], t["ParentTeamId"])
             for t in fetch_all(client, "/teams")[0]}
    courses = {c["Id"]: (c["Code"], c["Name"], c["Active"])
               for c in fetch_all(client, "/courses")[0]}
    roles = {(role, team, u["Id"]) for team in teams
             for role, path in (("member", "users"), ("leader", "leaders"), ("admin", "admins"))
             for u in fetch_all(client, f"/teams/{team}/{path}")[0]}
    enrollments = {(course, e["Id"]): (e["Completed"], e["PercentageComplete"],
                                       e["CompliantTill"], e["DueDate"], e["AccessTillDate"])
                   for course in courses
                   for e in fetch_all(client, f"/courses/{course}/users")[0]}
    return {"users": users, "teams": teams, "courses": courses, "roles": roles,
            "enrollments": enrollments}


def refresh(state: dict[str, Any], client: httpx.Client) -> None:
    """Applies the delta as a consumer would in mode active_false. An Active=false user
    or course may be deactivated or deleted: its own GET (404) tells them apart."""
    for u in delta_all(client, "users"):
        if not u["Active"] and client.get(f"/users/{u['Id']}").status_code == 404:
            state["users"].pop(u["Id"], None)
        else:
            state["users"][u["Id"]] = (u["UserName"], u["Email"], u["Active"],
                                       u["AccessLevel"])
    for t in delta_all(client, "teams"):
        if t["Active"]:
            state["teams"][t["Id"]] = (t["Name"], t["TeamCodeForBulkImport"],
                                       t["ParentTeamId"])
        else:
            state["teams"].pop(t["Id"], None)
    for c in delta_all(client, "courses"):
        if not c["Active"] and client.get(f"/courses/{c['Id']}").status_code == 404:
            state["courses"].pop(c["Id"], None)
        else:
            state["courses"][c["Id"]] = (c["Code"], c["Name"], c["Active"])
    for p in delta_all(client, "team_users"):
        for role, held in (("member", p["Active"]), ("leader", p["IsTeamLeader"]),
                           ("admin", p["IsTeamAdmin"])):
            (state["roles"].add if held else state["roles"].discard)((role, p["TeamId"],
                                                                      p["Id"]))
    for r in delta_all(client, "results"):
        key = (r["Id"], r["UserId"])
        if r["Active"]:
            state["enrollments"][key] = (r["Completed"], r["PercentageComplete"],
                                         r["CompliantTillDate"], r["DueDate"],
                                         r["AccessTillDate"])
        else:
            state["enrollments"].pop(key, None)


def test_a_full_list_plus_the_delta_equals_a_new_full_list() -> None:
    clock = ManualClock(T0)
    with LitmosSandbox(SPEC, rate_limit_per_minute=None, clock=clock) as sb, \
            client_for(sb) as client:
        tenant = sb.tenant
        before = full_state(client)
        clock.advance(5)
        assert httpx.post(f"{sb.control_url}/mutate", json=MUTATE).status_code == 200
        clock.advance(5)
        parent = next(t for t in tenant.teams() if t.children)
        client.put(f"/teams/{tenant.teams()[0].id}", json={"Name": "Renamed"})
        client.delete(f"/teams/{parent.id}")  # its sub-teams move up
        new_team = client.post("/teams", json={"Name": "New"}, params={"format": "json"})
        newcomer = client.post("/users", json={"UserName": "new@example.com"},
                               params={"format": "json"}).json()["Id"]
        client.post(f"/teams/{new_team.json()['Id']}/users", json=[{"Id": newcomer}])
        client.post(f"/users/{newcomer}/courses", json=[{"Id": tenant.courses()[0].id}])
        client.delete(f"/users/{tenant.users()[7].id}")
        enrollment = tenant.course_enrollments(tenant.courses()[2].id)[3]
        tenant.set_progress(enrollment.user_id, enrollment.course_id, 40)
        sb.vanish_course_after_listing(tenant.courses()[1].id)
        client.get("/courses")
        clock.advance(5)

        after = full_state(client)
        assert [part for part in after if before[part] == after[part]] == []  # all changed
        silent = copy.deepcopy(before)
        refresh(before, client)
        for part in after:
            assert before[part] == after[part], part
        assert len(before["enrollments"]) > 500 and len(before["roles"]) > 100
        # Without tombstones the removals are lost: the next full list has to catch them.
        sb.set_delta_removals("silent")
        refresh(silent, client)
        assert len(silent["enrollments"]) > len(after["enrollments"])


def test_delta_results_match_the_course_user_lists() -> None:
    with LitmosSandbox(SPEC, rate_limit_per_minute=None, clock=ManualClock(T0)) as sb, \
            client_for(sb, format="json") as client:
        tenant = sb.tenant
        sb.mutate(seed=8, assign_courses=20, complete_courses=20, unassign_courses=5)
        enrollment = tenant.course_enrollments(tenant.courses()[4].id)[0]
        tenant.set_progress(enrollment.user_id, enrollment.course_id, 40)
        # A generated enrollment, in a past window around its AssignedDate
        old = tenant.course_enrollments(tenant.courses()[3].id)[5]
        assigned = datetime.fromisoformat(old.assigned_date)
        past = delta_all(client, "results", assigned - DAY, assigned + DAY)
        assert (old.course_id, old.user_id) in {(r["Id"], r["UserId"]) for r in past}
        results = [r for r in delta_all(client, "results") + past if r["Active"]]
        assert len(results) > 40
        lists: dict[str, dict[str, dict[str, Any]]] = {}
        for r in results:
            if r["Id"] not in lists:
                entries = fetch_all(client, f"/courses/{r['Id']}/users")[0]
                lists[r["Id"]] = {e["Id"]: e for e in entries}
            entry = lists[r["Id"]][r["UserId"]]
            assert (r["UserName"], r["Completed"], r["PercentageComplete"],
                    r["CompliantTillDate"], r["DueDate"], r["AccessTillDate"]) == (
                entry["UserName"], entry["Completed"], entry["PercentageComplete"],
                entry["CompliantTill"], entry["DueDate"], entry["AccessTillDate"])
            mine = client.get(f"/users/{r['UserId']}/courses/{r['Id']}").json()
            assert (r["CreatedDate"], r["StartedDate"], r["CompletedDate"], r["UpToDate"],
                    r["Overdue"], r["Code"], r["Name"]) == (
                mine["AssignedDate"], mine["StartDate"], mine["DateCompleted"],
                mine["UpToDate"], mine["Overdue"], mine["Code"], mine["Name"])
        assert any(r["PercentageComplete"] == 40 for r in results)


def test_past_windows_date_generated_records_by_their_creation() -> None:
    tenant = Tenant.generate(TenantSpec.preset("small"))
    anchor = datetime.fromisoformat(tenant.users()[0].created_date)
    since, to = anchor - timedelta(days=3), anchor + timedelta(days=4)

    def inside(text: str) -> bool:
        return bool(text) and since <= datetime.fromisoformat(text).replace(tzinfo=UTC) < to

    def page(kind: str) -> list[tuple[Any, ...]]:
        return tenant.delta_page(kind, since, to, 0, 10**6)

    expected = sorted((e.assigned_date, e.course_id, e.user_id)
                      for e in tenant.iter_enrollments() if inside(e.assigned_date))
    assert expected and [(r[-1], r[0], r[1]) for r in page("results")] == expected
    assert [(r[-1], r[1], r[0]) for r in page("user_courses")] == expected
    users = sorted((u.created_date, u.id) for u in tenant.users() if inside(u.created_date))
    assert users and [(r[-1], r[0]) for r in page("users")] == users
    logins = sorted((u.last_login, u.id) for u in tenant.users() if inside(u.last_login))
    assert [(r[12], r[0]) for r in page("logins")] == logins  # 12: LastLogin
    pairs = sorted((max(t.created_date, u.created_date), t.id, u.id) for t in tenant.teams()
                   for u in tenant.team_members(t.id)
                   + [x for x in tenant.team_leaders(t.id) + tenant.team_admins(t.id)
                      if x.idx not in t.members])
    assert [(r[-1], r[0], r[1]) for r in page("team_users")] == [p for p in pairs
                                                                 if inside(p[0])]
    now = datetime.now(UTC)
    assert all(tenant.delta_page(k, now - DAY, now + DAY) == [] for k in PATHS)


def test_mutate_is_deterministic_and_every_change_is_reported() -> None:
    first, second = Tenant.generate(SPEC).mutate(**MUTATE), Tenant.generate(SPEC).mutate(**MUTATE)
    assert first == second
    assert first["counts"] == {k: v for k, v in MUTATE.items() if k != "seed"}
    assert Tenant.generate(SPEC).mutate(**{**MUTATE, "seed": 8}) != first
    with LitmosSandbox(SPEC, rate_limit_per_minute=None, clock=ManualClock(T0)) as sb, \
            client_for(sb) as client:
        ctl = f"{sb.control_url}/mutate"
        assert httpx.post(ctl, json=MUTATE).json() == first
        assert httpx.post(ctl, json={"bogus": 1}).status_code == 400
        assert httpx.post(ctl, json={"assign_courses": -1}).status_code == 400
        touched = first["touched"]
        users = {u["Id"]: u["Active"] for u in delta_all(client, "users")}
        assert users == {**dict.fromkeys(touched["deactivate_users"], False),
                         **dict.fromkeys(touched["reactivate_users"], True)}
        assignments = {(a["UserId"], a["Id"]): a["Active"]
                       for a in delta_all(client, "user_courses")}
        assert assignments == {**{tuple(p): True for p in touched["assign_courses"]},
                               **{tuple(p): False for p in touched["unassign_courses"]}}
        results = {(r["UserId"], r["Id"]): r["Completed"] for r in delta_all(client, "results")}
        assert all(results[tuple(p)] for p in touched["complete_courses"])
        pairs = {(p["TeamId"], p["Id"]): p for p in delta_all(client, "team_users")}
        assert all(pairs[tuple(p)]["Active"] for p in touched["add_team_members"])
        assert not any(pairs[tuple(p)]["Active"] for p in touched["remove_team_members"])
        flag = {"leaders": "IsTeamLeader", "admins": "IsTeamAdmin"}
        assert all(pairs[(t, u)][flag[r]] for t, u, r in touched["grant_team_roles"])
        assert not any(pairs[(t, u)][flag[r]] for t, u, r in touched["revoke_team_roles"])


def test_mutate_is_fast_on_a_medium_tenant() -> None:
    tenant = Tenant.generate(TenantSpec.preset("medium"))
    ask = dict(deactivate_users=600, reactivate_users=400, assign_courses=4_000,
               unassign_courses=3_000, complete_courses=3_000)
    started = time.perf_counter()
    done = tenant.mutate(seed=3, **ask)
    elapsed = time.perf_counter() - started
    assert done["counts"] == ask
    assert elapsed < 3.0, f"mutate took {elapsed:.1f}s"
    now = datetime.now(UTC)
    started = time.perf_counter()
    page = tenant.delta_page("results", now - DAY, now + DAY, 9_000, 1_000)
    assert len(page) == 1_000 and time.perf_counter() - started < 1.0
