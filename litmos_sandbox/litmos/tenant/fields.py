"""The Litmos field lists, spelled and ordered as the API answers them.

A row is a tuple aligned with one of these; ``None`` is a nil value, "" an empty one.
"""

from __future__ import annotations

from typing import Any

USER_LIST_FIELDS: tuple[str, ...] = (
    "Id", "UserName", "FirstName", "LastName", "Active", "Email", "AccessLevel", "Brand",
)
USER_FIELDS: tuple[str, ...] = (
    "Id", "UserName", "FirstName", "LastName", "FullName", "Email", "AccessLevel",
    "DisableMessages", "Active", "Skype", "PhoneWork", "PhoneMobile", "LastLogin",
    "LoginKey", "IsCustomUsername", "Password", "SkipFirstLogin", "TimeZone",
    "SalesforceId", "OriginalId", "Street1", "Street2", "City", "State", "PostalCode",
    "Country", "CompanyName", "JobTitle",
    *(f"CustomField{i}" for i in range(1, 11)),
    "Culture", "Brand", "SalesforceContactId", "SalesforceAccountId", "CreatedDate", "Points",
)
MEMBER_FIELDS: tuple[str, ...] = ("Id", "UserName", "FirstName", "LastName")
TEAM_FIELDS: tuple[str, ...] = (
    "Id", "Name", "TeamCodeForBulkImport", "ParentTeamId", "Description",
)
COURSE_FIELDS: tuple[str, ...] = (
    "Id", "Code", "Name", "Active", "ForSale", "OriginalId", "Description",
    "EcommerceShortDescription", "EcommerceLongDescription", "CourseCodeForBulkImport",
    "Price", "AccessTillDate", "AccessTillDays", "CourseTeamLibrary", "CreatedBy", "SeqId",
)
COURSE_USER_FIELDS: tuple[str, ...] = (
    "Id", "UserName", "FirstName", "LastName", "Completed", "PercentageComplete",
    "CompliantTill", "DueDate", "AccessTillDate",
)
USER_COURSE_FIELDS: tuple[str, ...] = (
    "Id", "Code", "Name", "Active", "Complete", "PercentageComplete", "AssignedDate",
    "StartDate", "DateCompleted", "UpToDate", "Overdue", "CompliantTill", "IsLearningPath",
    "CourseCreatedDate", "CourseCreator", "OriginalId", "ResultId", "AccessTillDate",
)
# The delta (date-range) query records, per litmos-api.md's record-shape table.
# UserResult adds AccessTillDate (not in the published shape) so that a consumer can
# rebuild a course's enrollee row from it alone.
DELTA_USER_FIELDS: tuple[str, ...] = (*USER_FIELDS, "UpdatedDate")
DELTA_TEAM_FIELDS: tuple[str, ...] = (
    "Id", "Name", "OriginalTeamId", "Active", "ParentTeamId", "TeamCodeForBulkImport",
    "CreatedDate", "UpdatedDate",
)
TEAM_USER_FIELDS: tuple[str, ...] = (
    "TeamId", "Id", "OriginalTeamId", "OriginalUserId", "Active", "IsTeamLeader",
    "IsTeamAdmin", "CreatedDate", "UpdatedDate",
)
DELTA_USER_COURSE_FIELDS: tuple[str, ...] = (
    "UserId", "Id", "OriginalUserId", "OriginalCourseId", "Active", "CreatedDate",
    "UpdatedDate",
)
USER_RESULT_FIELDS: tuple[str, ...] = (
    "Id", "UserId", "UserName", "OriginalCourseId", "Name", "Code", "Active", "Completed",
    "PercentageComplete", "StartedDate", "CompletedDate", "UpToDate", "Overdue",
    "CompliantTillDate", "DueDate", "AccessTillDate", "CreatedDate", "UpdatedDate",
)
DELTA_COURSE_FIELDS: tuple[str, ...] = (*COURSE_FIELDS, "CreatedDate", "UpdatedDate")
# Delta kind -> its record fields (``Tenant.delta_page(kind, ...)``).
DELTA_FIELDS: dict[str, tuple[str, ...]] = {
    "users": DELTA_USER_FIELDS, "logins": DELTA_USER_FIELDS, "teams": DELTA_TEAM_FIELDS,
    "team_users": TEAM_USER_FIELDS, "user_courses": DELTA_USER_COURSE_FIELDS,
    "results": USER_RESULT_FIELDS, "courses": DELTA_COURSE_FIELDS,
}
# Not described in litmos-api.md beyond the path: a plausible minimal shape.
MODULE_FIELDS: tuple[str, ...] = ("Id", "Code", "Name", "Description", "Active")
# Learning paths (litmos-api.md, "Beyond the full sync"): the list's documented fields in
# part, the path's users as user records, a user's paths with their progress.
LEARNING_PATH_FIELDS: tuple[str, ...] = (
    "Id", "Name", "Description", "Active", "OriginalId", "ForSale", "Price", "IsEquivalency",
)
LEARNING_PATH_COURSE_FIELDS: tuple[str, ...] = ("Id", "Code", "Name", "Active")
USER_LEARNING_PATH_FIELDS: tuple[str, ...] = (
    "Id", "Name", "Active", "Complete", "PercentageComplete", "AssignedDate", "StartDate",
    "CompletedDate", "ResultId", "AccessTillDate",
)

# The owner's spelling is not documented; the generator never makes one (tests set it).
ACCESS_LEVELS: tuple[str, ...] = ("Learner", "Team_Leader", "Admin", "Account_Owner")
ACCESS_RANK = {"Learner": 0, "Team_Leader": 1, "Admin": 2, "Account_Owner": 3}

Row = tuple[Any, ...]
