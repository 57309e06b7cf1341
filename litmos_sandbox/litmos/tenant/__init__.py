"""A deterministic, synthetic Litmos tenant: users, teams, courses and enrollments.

Same spec, same seed, the same tenant. ``Tenant`` (``tenant.py``) is assembled from one
module per responsibility; the field lists and model objects are importable from here.
Writes stamp change times (``changes.py``, real clock) for the delta queries
(``history.py``).
"""

from litmos_sandbox.litmos.tenant.changes import HORIZON, REMOVAL_MODES, ManualClock
from litmos_sandbox.litmos.tenant.derive import NOW_DAY
from litmos_sandbox.litmos.tenant.fields import (
    ACCESS_LEVELS,
    COURSE_FIELDS,
    COURSE_USER_FIELDS,
    DELTA_FIELDS,
    LEARNING_PATH_COURSE_FIELDS,
    LEARNING_PATH_FIELDS,
    MEMBER_FIELDS,
    MODULE_FIELDS,
    TEAM_FIELDS,
    USER_COURSE_FIELDS,
    USER_FIELDS,
    USER_LEARNING_PATH_FIELDS,
    USER_LIST_FIELDS,
    Row,
)
from litmos_sandbox.litmos.tenant.model import Course, Enrollment, Team, TenantError, User
from litmos_sandbox.litmos.tenant.spec import TenantSpec
from litmos_sandbox.litmos.tenant.tenant import Tenant, enrollment_fields

__all__ = [
    "ACCESS_LEVELS", "COURSE_FIELDS", "COURSE_USER_FIELDS", "DELTA_FIELDS", "HORIZON",
    "LEARNING_PATH_COURSE_FIELDS", "LEARNING_PATH_FIELDS", "USER_LEARNING_PATH_FIELDS",
    "MEMBER_FIELDS", "MODULE_FIELDS", "ManualClock", "NOW_DAY", "REMOVAL_MODES", "TEAM_FIELDS",
    "USER_COURSE_FIELDS", "USER_FIELDS", "USER_LIST_FIELDS",
    "Course", "Enrollment", "Row", "Team", "Tenant", "TenantError", "TenantSpec", "User",
    "enrollment_fields",
]
