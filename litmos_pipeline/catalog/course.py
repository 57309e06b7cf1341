"""Litmos courses: who is assigned, and whether they completed it (a state, not access).

Grants come from each course's enrollee list; LITMOS_COURSE_IDS restricts the sync to
listed courses, read one GET each instead of the course list. A course's modules
(module.py) are one more list of it, read with LITMOS_SYNC_MODULES.
"""

from __future__ import annotations

from litmos_pipeline.catalog.base import (
    Entitlement,
    Listing,
    RecordSpec,
    ResourceType,
    Verb,
    found_at,
)
from litmos_pipeline.catalog.module import MODULE_LIST

COURSES = RecordSpec("raw_courses", (
    ("Id", "id"), ("Code", "code"), ("Name", "name"), ("Active", "active"),
    ("Description", "description"),
), description="Litmos courses: all of them, or only LITMOS_COURSE_IDS (one GET each).",
    preview="SELECT id, code, name, active FROM raw_courses")

COURSE_ENROLLMENTS = RecordSpec("raw_course_enrollments", (
    ("Id", "user_id"), ("UserName", "user_name"), ("Completed", "completed"),
    ("PercentageComplete", "percentage_complete"), ("CompliantTill", "compliant_till"),
    ("DueDate", "due_date"), ("AccessTillDate", "access_till_date"),
), context=("course_id",),
    description="Who is enrolled in each synced course (GET /courses/{id}/users), with "
                "Completed and PercentageComplete.",
    preview="SELECT completed, count(*) AS rows FROM raw_course_enrollments GROUP BY 1")

COURSE = ResourceType(
    id="course", display_name="Course", description="A Litmos course",
    traits=(), records=COURSES,
    list_path="/courses", list_what="courses", one_path="/courses/{id}",
    one_what="course {id}", filter_setting="LITMOS_COURSE_IDS",
    children=(Listing("/courses/{id}/users", "course {id} users", COURSE_ENROLLMENTS),
              MODULE_LIST),
    entitlements=(
        Entitlement(
            "assigned", "Assigned", "Assigned to",
            grant=Verb("POST /users/{user}/courses [{resource}] ({msg})",
                       lambda c, t: c.assign_course(t.user_id, t.resource_id,
                                                    send_message=t.send_message)),
            revoke=Verb("DELETE /users/{user}/courses/{resource}",
                        lambda c, t: c.unassign_course(t.user_id, t.resource_id)),
            holds=found_at("/users/{user}/courses/{id}", "course {id} of user {user}",
                           "course id")),
        Entitlement("completed", "Completed", "Completed", state=True),
        Entitlement("in_progress", "In Progress", "In progress on", state=True),
    ),
)
