"""The synthetic tenant: shape per preset, determinism, invariants, writes."""

from __future__ import annotations

import re
import time

import pytest

from litmos_sandbox.litmos.tenant import (
    COURSE_USER_FIELDS,
    Tenant,
    TenantError,
    TenantSpec,
)

ID_RE = re.compile(r"^[A-Za-z0-9_]{12}$")


@pytest.fixture(scope="module")
def small() -> Tenant:
    return Tenant.generate(TenantSpec.preset("small"))


def test_tiny_preset_shape() -> None:
    tenant = Tenant.from_preset("tiny")
    summary = tenant.summary()
    assert summary["users"] == 10
    assert summary["active_users"] == 9
    assert summary["teams"] == 3
    assert summary["courses"] == 3
    assert summary["enrollments"] == 15
    assert all(len(t.members) == 4 for t in tenant.teams())


def test_small_preset_shape(small: Tenant) -> None:
    summary = small.summary()
    assert (summary["users"], summary["teams"], summary["courses"]) == (1000, 50, 20)
    assert summary["enrollments"] == 20_000
    assert summary["active_users"] == 950
    assert 1 <= summary["top_level_teams"] < 50


def test_medium_preset_is_fast_and_skewed() -> None:
    started = time.perf_counter()
    tenant = Tenant.generate(TenantSpec.preset("medium"))
    elapsed = time.perf_counter() - started
    assert elapsed < 8.0, f"medium preset took {elapsed:.1f}s"
    summary = tenant.summary()
    assert (summary["users"], summary["teams"], summary["courses"]) == (20_000, 1_000, 300)
    assert summary["enrollments"] == 300_000
    sizes = sorted((len(c.enrollees) for c in tenant.courses()), reverse=True)
    assert sizes[0] == 20_000  # the cap: every user
    assert sizes[0] > 20 * sizes[len(sizes) // 2]  # Zipf-like, not uniform


def test_course_sizes_hit_target_and_respect_cap() -> None:
    spec = TenantSpec(users=3_000, teams=10, courses=40, enrollments=25_000,
                      max_course_enrollees=2_000)
    tenant = Tenant.generate(spec)
    sizes = [len(c.enrollees) for c in tenant.courses()]
    assert sum(sizes) == 25_000
    assert max(sizes) == 2_000
    for course in tenant.courses():
        arr = list(course.enrollees)
        assert arr == sorted(set(arr)), "enrollees must be sorted and distinct"


def test_same_seed_same_tenant_other_seed_differs() -> None:
    spec = TenantSpec.preset("small")
    a, b = Tenant.generate(spec), Tenant.generate(spec)
    c = Tenant.generate(TenantSpec.preset("small", seed=2))
    assert [(u.id, u.user_name, u.first_name, u.created_date) for u in a.users()] == [
        (u.id, u.user_name, u.first_name, u.created_date) for u in b.users()
    ]
    assert [t.id for t in a.teams()] == [t.id for t in b.teams()]
    course = a.courses()[3]
    assert a.course_enrollments(course.id) == b.course_enrollments(course.id)
    assert [u.id for u in a.users()] != [u.id for u in c.users()]


def test_ids_are_opaque_unique_and_usernames_unique(small: Tenant) -> None:
    ids = [u.id for u in small.users()] + [t.id for t in small.teams()]
    ids += [c.id for c in small.courses()]
    assert all(ID_RE.match(i) for i in ids)
    assert len(set(ids)) == len(ids)
    names = [u.user_name.casefold() for u in small.users()]
    assert len(set(names)) == len(names)
    emails = [u.email for u in small.users()]
    assert len(set(emails)) == len(emails)


def test_non_ascii_switch() -> None:
    with_intl = Tenant.generate(TenantSpec.preset("small"))
    assert any(not (u.first_name + u.last_name).isascii() for u in with_intl.users())
    plain = Tenant.generate(TenantSpec.preset("small", non_ascii=False))
    assert all((u.first_name + u.last_name).isascii() for u in plain.users())
    assert all(u.user_name.isascii() and u.email.isascii() for u in with_intl.users())


def test_team_tree_is_a_forest(small: Tenant) -> None:
    by_idx = {t.idx: t for t in small.teams()}
    for team in small.teams():
        depth, node = 0, team
        while node.parent >= 0:
            assert node.idx in by_idx[node.parent].children
            node = by_idx[node.parent]
            depth += 1
            assert depth < len(by_idx), "cycle in the team tree"
    top = [t for t in small.teams() if t.parent < 0]
    assert top and len(top) < len(by_idx)
    assert small.parent_team(top[0].id) is None


def test_leaders_and_admins_are_active_members_with_raised_access(small: Tenant) -> None:
    for team in small.teams():
        leaders = small.team_leaders(team.id)
        admins = small.team_admins(team.id)
        assert len(leaders) == 1 and len(admins) == 1
        member_ids = {u.id for u in small.team_members(team.id)}
        for user in leaders + admins:
            assert user.active and user.id in member_ids
        assert leaders[0].access_level in ("Team_Leader", "Admin")
        assert admins[0].access_level == "Admin"
        assert leaders[0].id != admins[0].id


def test_user_teams_mirror_team_members(small: Tenant) -> None:
    team = small.teams()[7]
    for user in small.team_members(team.id):
        assert team.id in [t.id for t in small.user_teams(user.id)]


def test_enrollment_views_agree(small: Tenant) -> None:
    course = small.courses()[5]
    enrollments = small.course_enrollments(course.id)
    assert len(enrollments) == len(course.enrollees)
    for enr in enrollments[:200]:
        assert enr.percentage_complete == 100 if enr.completed else enr.percentage_complete < 100
        assert enr.date_completed is not None if enr.completed else enr.date_completed is None
        user = small.user(enr.user_id)
        assert user is not None
        mine = {e.course_id: e for e in small.user_enrollments(user.id)}
        assert mine[course.id] == enr
        # The course-user row is computed by a faster path: it must match.
        row = dict(zip(COURSE_USER_FIELDS, small.course_user_row(course, user), strict=True))
        assert (row["Completed"], row["PercentageComplete"], row["CompliantTill"],
                row["DueDate"], row["AccessTillDate"]) == (
            enr.completed, enr.percentage_complete, enr.compliant_till, enr.due_date,
            enr.access_till_date)
    assert any(e.completed for e in enrollments) and any(not e.completed for e in enrollments)
    assert any(e.due_date is None for e in enrollments)
    assert any(e.access_till_date == "" for e in enrollments)


def test_user_lookup_by_id_or_username(small: Tenant) -> None:
    user = small.users()[42]
    assert small.user(user.id) is user
    assert small.user(user.user_name.upper()) is user
    assert small.user("nope") is None


def test_write_users_and_enrollments() -> None:
    tenant = Tenant.from_preset("tiny")
    with pytest.raises(TenantError) as err:
        tenant.create_user({"UserName": tenant.users()[0].user_name})
    assert err.value.status == 400
    user = tenant.create_user({"UserName": "new.person@example.com", "FirstName": "Nèw",
                               "LastName": "Person", "Email": "new.person@example.com"})
    assert ID_RE.match(user.id) and tenant.user(user.id) is user
    course = tenant.courses()[0]
    assert tenant.assign_courses(user.id, [course.id]) == [course.id]
    assert tenant.assign_courses(user.id, [course.id]) == []  # already assigned: no-op
    enr = tenant.enrollment(user.id, course.id)
    assert enr is not None and not enr.completed and enr.percentage_complete == 0
    assert user.id in [e.user_id for e in tenant.course_enrollments(course.id)]
    tenant.unassign_course(user.id, course.id)
    with pytest.raises(TenantError) as err:
        tenant.unassign_course(user.id, course.id)
    assert err.value.status == 404
    with pytest.raises(TenantError):
        tenant.assign_courses(user.id, ["unknowncours"])


def test_delete_user_removes_everything() -> None:
    tenant = Tenant.from_preset("tiny")
    team = tenant.teams()[0]
    victim = tenant.team_leaders(team.id)[0]
    courses = [e.course_id for e in tenant.user_enrollments(victim.id)]
    tenant.delete_user(victim.id)
    assert tenant.user(victim.id) is None
    assert victim.id not in [u.id for u in tenant.team_members(team.id)]
    assert tenant.team_leaders(team.id) == []
    for course_id in courses:
        assert victim.id not in [e.user_id for e in tenant.course_enrollments(course_id)]
    assert tenant.summary()["users"] == 9


def test_team_membership_writes() -> None:
    tenant = Tenant.from_preset("tiny")
    team = tenant.teams()[0]
    outsider = next(u for u in tenant.users() if u.id not in
                    {m.id for m in tenant.team_members(team.id)})
    member = tenant.team_members(team.id)[0]
    added = tenant.add_team_members(team.id, [outsider.id, member.id, "unknownuser1"])
    assert added == [outsider.id]
    assert team.id in [t.id for t in tenant.user_teams(outsider.id)]
    tenant.remove_team_member(team.id, outsider.id)
    assert outsider.id not in [u.id for u in tenant.team_members(team.id)]
    assert tenant.set_team_role(team.id, "leaders", outsider.id, True)
    assert not tenant.set_team_role(team.id, "leaders", outsider.id, True)
    tenant.set_team_role(team.id, "leaders", outsider.id, False)
    with pytest.raises(TenantError):
        tenant.set_team_role(team.id, "admins", outsider.id, False)


def test_spec_validation_names_the_field() -> None:
    with pytest.raises(ValueError, match="inactive_share"):
        Tenant.generate(TenantSpec(inactive_share=1.5))
    with pytest.raises(ValueError, match="preset"):
        TenantSpec.preset("huge")
