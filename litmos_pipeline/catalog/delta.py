"""Litmos' delta (date-range) queries a refresh reads, and the raw table each lands in.

Each answers the records created or updated between `since` and `to` (at most 7 days
apart), paged like any list, so a refresh costs what changed, not what exists
(../shared/docs/litmos-api.md, "Delta queries"). warehouse/sql/refresh.sql applies them
onto the current snapshot's typed tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from litmos_pipeline.catalog.base import RecordSpec

# The documented limit of one delta query's range.
MAX_WINDOW_DAYS: Final = 7


@dataclass(frozen=True)
class DeltaList:
    """One delta query. `id_fields`: every field holding a Litmos id (the first is the
    record's own `Id`): each is checked like a list's ids, as each reaches C1 ids."""

    path: str
    what: str
    records: RecordSpec
    id_fields: tuple[str, ...] = ("Id",)


def _spec(table: str, fields: tuple[tuple[str, str], ...]) -> RecordSpec:
    return RecordSpec(table, (*fields, ("UpdatedDate", "updated_date")))


DELTA_USERS = DeltaList("/org/users/details", "users changed", _spec("raw_delta_users", (
    ("Id", "id"), ("UserName", "user_name"), ("FirstName", "first_name"),
    ("LastName", "last_name"), ("Email", "email"), ("Active", "active"),
    ("AccessLevel", "access_level"), ("Brand", "brand"), ("LastLogin", "last_login"),
    ("CreatedDate", "created_date"),
)))
DELTA_TEAMS = DeltaList("/org/teams", "teams changed", _spec("raw_delta_teams", (
    ("Id", "id"), ("Name", "name"), ("ParentTeamId", "parent_team_id"),
    ("TeamCodeForBulkImport", "team_code"), ("Active", "active"),
)), id_fields=("Id", "ParentTeamId"))
DELTA_COURSES = DeltaList("/org/courses", "courses changed", _spec("raw_delta_courses", (
    ("Id", "id"), ("Code", "code"), ("Name", "name"), ("Active", "active"),
    ("Description", "description"),
)))
DELTA_TEAM_USERS = DeltaList(
    "/org/teams/users", "team assignments changed", _spec("raw_delta_team_users", (
        ("Id", "user_id"), ("TeamId", "team_id"), ("Active", "active"),
        ("IsTeamLeader", "is_team_leader"), ("IsTeamAdmin", "is_team_admin"),
    )), id_fields=("Id", "TeamId"))
DELTA_USER_COURSES = DeltaList(
    "/org/users/courses", "course assignments changed", _spec("raw_delta_user_courses", (
        ("Id", "course_id"), ("UserId", "user_id"), ("Active", "active"),
    )), id_fields=("Id", "UserId"))
DELTA_RESULTS = DeltaList(
    "/org/results/details", "course results changed", _spec("raw_delta_results", (
        ("Id", "course_id"), ("UserId", "user_id"), ("Active", "active"),
        ("Completed", "completed"), ("PercentageComplete", "percentage_complete"),
        ("CompliantTillDate", "compliant_till"), ("DueDate", "due_date"),
        # Not in the published shape; taken when a tenant sends it (the sandbox does).
        ("AccessTillDate", "access_till_date"),
    )), id_fields=("Id", "UserId"))

# Who signed in within the window, with LastLogin: a sign-in does not change a user's
# UpdatedDate, so /org/users/details misses it. A full sync reads it too, over
# LITMOS_LAST_LOGIN_DAYS (the user list has no LastLogin; GET /users/{id} would cost a
# request per user).
DELTA_LOGINS = DeltaList("/org/users/logins", "users who signed in", RecordSpec(
    "raw_delta_logins", (("Id", "id"), ("LastLogin", "last_login"))))

# The order a refresh reads them in (and the order of its request log).
DELTA_LISTS: tuple[DeltaList, ...] = (DELTA_USERS, DELTA_TEAMS, DELTA_COURSES,
                                      DELTA_TEAM_USERS, DELTA_USER_COURSES, DELTA_RESULTS,
                                      DELTA_LOGINS)
DELTA_TABLES: tuple[str, ...] = tuple(d.records.table for d in DELTA_LISTS)
