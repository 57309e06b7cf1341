"""Litmos course modules: resources under their course, with no entitlements.

Litmos lists them per course (`GET /courses/{id}/modules`), so the type has no list of
its own: the course entry reads the list, with LITMOS_SYNC_MODULES (one more request per
course), and C1 shows each module as a child of its course (as the public connector's
newer versions do). No module is granted: access to a module is access to its course.
"""

from __future__ import annotations

from litmos_pipeline.catalog.base import Listing, RecordSpec, ResourceType

MODULES = RecordSpec("raw_modules", (
    ("Id", "id"), ("Code", "code"), ("Name", "name"), ("Description", "description"),
), context=("course_id",),
    description="The modules of each synced course (GET /courses/{id}/modules), with "
                "LITMOS_SYNC_MODULES; empty without it.",
    preview="SELECT course_id, id, code, name FROM raw_modules")

MODULE_LIST = Listing("/courses/{id}/modules", "course {id} modules", MODULES,
                      option="sync_modules")

MODULE = ResourceType(
    id="module", display_name="Module", description="A module of a Litmos course",
    traits=(), records=MODULES, list_path="", list_what="modules",
    one_path="", one_what="", parent="course",
    option="sync_modules",
)
