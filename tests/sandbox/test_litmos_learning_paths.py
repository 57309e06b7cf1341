"""The sandbox's learning paths: generated beside the rest of a tenant without changing
it, listed like any list (XML and JSON, paged, faults), assigned and unassigned per user."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from litmos_sandbox.litmos import LitmosSandbox
from litmos_sandbox.litmos.tenant import Tenant, TenantSpec
from tests.sandbox.test_litmos_server import as_text, client_for, fetch_all, xml_rows


@pytest.fixture()
def tiny_sb() -> Iterator[LitmosSandbox]:
    with LitmosSandbox("tiny", rate_limit_per_minute=None) as sb:
        yield sb


def _everything_else(t: Tenant) -> tuple[object, ...]:
    return ([t.user_detail(u.id) for u in t.users()], t.page_teams(0, 10_000),
            t.page_courses(0, 10_000),
            [t.page_course_users(c.id, 0, 100_000) for c in t.courses()],
            [t.page_team_people(x.id, "users", 0, 10_000) for x in t.teams()])


@pytest.mark.parametrize("preset", ["tiny", "small"])
def test_learning_paths_leave_the_rest_of_the_tenant_as_it_was(preset: str) -> None:
    with_paths = Tenant.from_preset(preset)
    without = Tenant.from_preset(preset, learning_paths=0)
    assert with_paths.learning_paths() and not without.learning_paths()
    assert _everything_else(with_paths) == _everything_else(without)
    again = Tenant.from_preset(preset)
    assert [(p.id, list(p.users)) for p in again.learning_paths()] == \
        [(p.id, list(p.users)) for p in with_paths.learning_paths()]


def test_lists_in_xml_and_json_paged(tiny_sb: LitmosSandbox) -> None:
    paths = tiny_sb.tenant.learning_paths()
    with client_for(tiny_sb) as client:
        rows, requests = fetch_all(client, "/learningpaths", limit=1)
        assert [r["Id"] for r in rows] == [p.id for p in paths]
        assert requests == len(paths) + 1  # the last page is the first one short
        xml = xml_rows(client.get("/learningpaths").content)
        assert xml == [{k: as_text(v) for k, v in r.items()} for r in rows]
        path = paths[0]
        users, _ = fetch_all(client, f"/learningpaths/{path.id}/users")
        assert [u["Id"] for u in users] == [u.id for u in tiny_sb.tenant.learning_path_users(
            path.id)]
        one = client.get(f"/learningpaths/{path.id}", params={"format": "json"}).json()
        assert one["Id"] == path.id and one["Name"] == path.name
        courses, _ = fetch_all(client, f"/learningpaths/{path.id}/courses")
        assert len(courses) == len(path.courses)
        assert client.get("/learningpaths/NoSuchPath01").status_code == 404
        tiny_sb.fail_next(1, "503", path_prefix="/learningpaths")
        assert client.get(f"/learningpaths/{path.id}/users").status_code == 503
        assert client.get(f"/learningpaths/{path.id}/users").status_code == 200


def test_assign_and_unassign_learning_paths(tiny_sb: LitmosSandbox) -> None:
    tenant = tiny_sb.tenant
    path = tenant.learning_paths()[0]
    held = {u.id for u in tenant.learning_path_users(path.id)}
    user = next(u for u in tenant.users() if u.id not in held)
    with client_for(tiny_sb) as client:
        body = f"<LearningPaths><LearningPath><Id>{path.id}</Id></LearningPath></LearningPaths>"
        for _ in range(2):  # assigning twice changes nothing the second time
            assert client.post(f"/users/{user.id}/learningpaths",
                               content=body.encode()).status_code == 200
        mine = client.get(f"/users/{user.id}/learningpaths", params={"format": "json"}).json()
        assert [p["Id"] for p in mine] == [path.id]
        users, _ = fetch_all(client, f"/learningpaths/{path.id}/users")
        assert user.id in {u["Id"] for u in users}
        assert client.delete(f"/users/{user.id}/learningpaths/{path.id}").status_code == 200
        assert client.delete(f"/users/{user.id}/learningpaths/{path.id}").status_code == 404
        assert client.post(f"/users/{user.id}/learningpaths",
                           json=[{"Id": path.id}]).status_code == 200
        other = "<ArrayOfLearningPath><LearningPath><Id>NoSuchPath01</Id></LearningPath>" \
                "</ArrayOfLearningPath>"
        assert client.post(f"/users/{user.id}/learningpaths",
                           content=other.encode()).status_code == 404
    assert user.id in {u.id for u in tenant.learning_path_users(path.id)}


def test_spec_counts_learning_paths() -> None:
    assert len(Tenant.generate(TenantSpec.preset("small")).learning_paths()) == 5
    with pytest.raises(ValueError, match="learning_paths"):
        Tenant.generate(TenantSpec(learning_paths=-1))
