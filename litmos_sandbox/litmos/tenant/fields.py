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
# Not described in litmos-api.md beyond the path: a plausible minimal shape.
MODULE_FIELDS: tuple[str, ...] = ("Id", "Code", "Name", "Description", "Active")

ACCESS_LEVELS: tuple[str, ...] = ("Learner", "Team_Leader", "Admin")
ACCESS_RANK = {"Learner": 0, "Team_Leader": 1, "Admin": 2}

Row = tuple[Any, ...]
