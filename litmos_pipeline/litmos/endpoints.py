"""Which Litmos fields each raw table keeps, under which column name.

Raw tables hold the API's text; typing is done by the SQL transform.
"""

from __future__ import annotations

from dataclasses import dataclass

ID_FIELD = "Id"  # every Litmos record has one; the first field of every spec


@dataclass(frozen=True)
class RecordSpec:
    """A raw table: its name, extra context columns, and (API field, column) pairs."""

    table: str
    fields: tuple[tuple[str, str], ...]
    context: tuple[str, ...] = ()

    @property
    def columns(self) -> tuple[str, ...]:
        return (*self.context, *(column for _, column in self.fields))


USERS = RecordSpec("raw_users", (
    ("Id", "id"), ("UserName", "user_name"), ("FirstName", "first_name"),
    ("LastName", "last_name"), ("Email", "email"), ("Active", "active"),
    ("AccessLevel", "access_level"), ("Brand", "brand"), ("LastLogin", "last_login"),
    ("CreatedDate", "created_date"),
))
TEAMS = RecordSpec("raw_teams", (
    ("Id", "id"), ("Name", "name"), ("ParentTeamId", "parent_team_id"),
    ("TeamCodeForBulkImport", "team_code"), ("Description", "description"),
))
COURSES = RecordSpec("raw_courses", (
    ("Id", "id"), ("Code", "code"), ("Name", "name"), ("Active", "active"),
    ("Description", "description"),
))
TEAM_MEMBERS = RecordSpec("raw_team_members", (
    ("Id", "user_id"), ("UserName", "user_name"), ("FirstName", "first_name"),
    ("LastName", "last_name"),
), context=("team_id", "role"))
COURSE_ENROLLMENTS = RecordSpec("raw_course_enrollments", (
    ("Id", "user_id"), ("UserName", "user_name"), ("Completed", "completed"),
    ("PercentageComplete", "percentage_complete"), ("CompliantTill", "compliant_till"),
    ("DueDate", "due_date"), ("AccessTillDate", "access_till_date"),
), context=("course_id",))

# Team roles and the collection path Litmos lists them under.
TEAM_ROLE_PATHS = {"member": "users", "leader": "leaders", "admin": "admins"}
