"""Golden tests of the SQL transform: hand-written raw rows in, exact C1 ids out."""

from __future__ import annotations

from pathlib import Path

import pytest

from litmos_pipeline.catalog import (
    COURSE_ENROLLMENTS,
    COURSES,
    LEARNING_PATH_USERS,
    LEARNING_PATHS,
    MODULES,
    TEAM_MEMBERS,
    TEAMS,
    USERS,
)
from litmos_pipeline.warehouse import snapshot, store
from litmos_pipeline.warehouse.loader import MissingIdError, RawLoader


def stage(path: Path, *, duplicate_user: bool = False) -> None:
    with store.opened(path) as con:
        users = RawLoader(con, USERS)
        users.add([
            {"Id": "u1", "UserName": "ana", "FirstName": "Ana", "LastName": "Lima",
             "Email": "ana@x.io", "Active": "true", "AccessLevel": "Learner"},
            {"Id": "u2", "UserName": "bo", "FirstName": None, "LastName": None,
             "Email": None, "Active": "false", "AccessLevel": "Team_Leader"},
        ])
        if duplicate_user:
            users.add([{"Id": "u1", "UserName": "ana-dup", "Active": "true"}])
        users.flush()
        teams = RawLoader(con, TEAMS)
        teams.add([{"Id": "t1", "Name": "Sales", "ParentTeamId": None},
                   {"Id": "t2", "Name": "Sales EU", "ParentTeamId": "t1"}])
        teams.flush()
        courses = RawLoader(con, COURSES)
        courses.add([{"Id": "c1", "Name": "Safety", "Active": "true"}])
        courses.flush()
        members = RawLoader(con, TEAM_MEMBERS)
        members.add([{"Id": "u1"}], {"team_id": "t1", "role": "member"})
        members.add([{"Id": "u2"}, {"Id": "ghost"}], {"team_id": "t2", "role": "member"})
        members.add([{"Id": "u2"}], {"team_id": "t2", "role": "leader"})
        members.add([{"Id": "u1"}], {"team_id": "t1", "role": "admin"})
        members.flush()
        enrollments = RawLoader(con, COURSE_ENROLLMENTS)
        enrollments.add([{"Id": "u1", "Completed": "true", "PercentageComplete": "100"},
                         {"Id": "u2", "Completed": "false", "PercentageComplete": "40"}],
                        {"course_id": "c1"})
        enrollments.flush()
        modules = RawLoader(con, MODULES)
        modules.add([{"Id": "m1", "Code": "S-1", "Name": "Ladders"},
                     {"Id": "m2", "Code": "S-2", "Name": " "}], {"course_id": "c1"})
        modules.add([{"Id": "m9", "Name": "Of no synced course"}], {"course_id": "c9"})
        modules.flush()
        paths = RawLoader(con, LEARNING_PATHS)
        paths.add([{"Id": "lp1", "Name": "Onboarding", "Active": "true"}])
        paths.flush()
        assigned = RawLoader(con, LEARNING_PATH_USERS)
        assigned.add([{"Id": "u2"}, {"Id": "ghost"}], {"learning_path_id": "lp1"})
        assigned.add([{"Id": "u1"}], {"learning_path_id": "lp9"})  # no such path listed
        assigned.flush()


def test_exact_ids(tmp_path: Path) -> None:
    path = tmp_path / "stage.duckdb"
    stage(path)
    with store.opened(path) as con:
        counts = snapshot.build_model(con, sync_team_roles=True)
        grants = sorted(r[0] for r in con.execute("SELECT grant_id FROM c1_grants").fetchall())
        entitlements = sorted(
            r[0] for r in con.execute("SELECT entitlement_id FROM c1_entitlements").fetchall())
        resources = con.execute(
            "SELECT external_id, parent_resource_type_id, parent_resource_id, display_name, "
            "trait, user_status, user_login, user_email FROM c1_resources ORDER BY 1").fetchall()
        assert snapshot.skipped_principals(con) == 2  # "ghost" is in no user list, twice
    assert grants == [
        "course:c1:assigned:user:u1",
        "course:c1:assigned:user:u2",
        "course:c1:completed:user:u1",
        "course:c1:in_progress:user:u2",
        "learning_path:lp1:assigned:user:u2",
        "team:t1:admin:user:u1",
        "team:t1:member:user:u1",
        "team:t2:leader:user:u2",
        "team:t2:member:user:u2",
    ]
    assert entitlements == [
        "course:c1:assigned", "course:c1:completed", "course:c1:in_progress",
        "learning_path:lp1:assigned",
        "team:t1:admin", "team:t1:leader", "team:t1:member",
        "team:t2:admin", "team:t2:leader", "team:t2:member",
    ]
    assert resources == [
        ("course:c1", None, None, "Safety", None, None, None, None),
        ("learning_path:lp1", None, None, "Onboarding", None, None, None, None),
        ("module:m1", "course", "c1", "Ladders", None, None, None, None),
        ("module:m2", "course", "c1", "S-2", None, None, None, None),  # blank name: code
        ("team:t1", None, None, "Sales", "group", None, None, None),
        ("team:t2", "team", "t1", "Sales EU", "group", None, None, None),
        ("user:u1", None, None, "Ana Lima", "user", 1, "ana", "ana@x.io"),
        ("user:u2", None, None, "bo", "user", 2, "bo", None),
    ]
    assert counts["c1_resource_types"] == 5  # user, team, course, module, learning_path


def test_team_roles_off_keeps_members_only(tmp_path: Path) -> None:
    path = tmp_path / "stage.duckdb"
    stage(path)
    with store.opened(path) as con:
        snapshot.build_model(con, sync_team_roles=False)
        slugs = {r[0] for r in con.execute(
            "SELECT DISTINCT slug FROM c1_entitlements WHERE resource_type_id='team'").fetchall()}
        roles = con.execute("SELECT count(*) FROM c1_grants WHERE grant_id LIKE '%:leader:%' "
                            "OR grant_id LIKE '%:admin:%'").fetchone()
    assert slugs == {"member"}
    assert roles == (0,)


def test_duplicate_records_are_kept_once_and_counted(tmp_path: Path) -> None:
    path = tmp_path / "stage.duckdb"
    stage(path, duplicate_user=True)
    with store.opened(path) as con:
        snapshot.build_model(con, sync_team_roles=True)
        assert snapshot.duplicate_ids(con)["raw_users"] == 1
        rows = con.execute("SELECT user_name FROM litmos_users WHERE id = 'u1'").fetchall()
    assert rows == [("ana",)]  # the first page's record wins


def test_record_without_id_is_a_clear_error(tmp_path: Path) -> None:
    with store.opened(tmp_path / "s.duckdb") as con:
        loader = RawLoader(con, USERS)
        with pytest.raises(MissingIdError, match=r"without Id in users start=1000 \(record #2"):
            loader.add([{"Id": "u1"}, {"UserName": "no-id"}], where="users start=1000")


def test_dates_parse_with_zones_and_wcf_form(tmp_path: Path) -> None:
    with store.opened(tmp_path / "d.duckdb") as con:
        row = con.execute("SELECT litmos_ts('2016-12-09T07:54:27+02:00'), "
                          "litmos_ts('/Date(1471910400000)/'), litmos_ts(''), "
                          "litmos_ts('not a date')").fetchone()
    assert str(row[0]) == "2016-12-09 05:54:27"
    assert str(row[1]) == "2016-08-23 00:00:00"
    assert row[2] is None and row[3] is None


def test_raw_json_values_load_as_the_apis_text(tmp_path: Path) -> None:
    with store.opened(tmp_path / "r.duckdb") as con:
        loader = RawLoader(con, COURSE_ENROLLMENTS)
        loader.add([{"Id": "u1", "Completed": True, "PercentageComplete": 40.5, "DueDate": ""},
                    {"Id": "u2", "Completed": False, "PercentageComplete": 100,
                     "DueDate": None}], {"course_id": "c1"})
        loader.flush()
        rows = con.execute("SELECT course_id, user_id, completed, percentage_complete, "
                           "due_date FROM raw_course_enrollments ORDER BY _seq").fetchall()
    assert rows == [("c1", "u1", "true", "40.5", None), ("c1", "u2", "false", "100", None)]
