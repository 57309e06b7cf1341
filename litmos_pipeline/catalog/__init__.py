"""One catalog of the Litmos resource types this connector syncs and provisions.

One module per resource type (user.py, team.py, course.py, module.py,
learning_path.py) declares its lists, raw and
typed tables, C1 resource type, entitlements and provisioning verbs (see base.py for the
shape). Adding a resource type is a module here, a line in CATALOG, and its SQL blocks in
warehouse/sql/transform.sql.
"""

from __future__ import annotations

from litmos_pipeline.catalog.base import (
    ID_FIELD,
    Entitlement,
    Listing,
    RecordSpec,
    ResourceType,
    Target,
    Verb,
)
from litmos_pipeline.catalog.course import COURSE, COURSE_ENROLLMENTS, COURSES
from litmos_pipeline.catalog.learning_path import (
    LEARNING_PATH,
    LEARNING_PATH_USERS,
    LEARNING_PATHS,
)
from litmos_pipeline.catalog.module import MODULE, MODULES
from litmos_pipeline.catalog.team import TEAM, TEAM_MEMBERS, TEAM_ROLE_PATHS, TEAMS
from litmos_pipeline.catalog.user import USER, USERS

# Order matters and is kept: the extract reads lists in it (so the request order is
# stable), the transform's tables and the asset specs follow it.
CATALOG: tuple[ResourceType, ...] = (USER, TEAM, COURSE, MODULE, LEARNING_PATH)

BY_ID: dict[str, ResourceType] = {rt.id: rt for rt in CATALOG}

# Every raw table: each type's records first (a child type's, such as modules, read
# through its parent's lists), then the per-resource lists whose typed tables the grants
# come from.
RESOURCE_SPECS: tuple[RecordSpec, ...] = tuple(rt.records for rt in CATALOG)
CHILD_SPECS: tuple[RecordSpec, ...] = tuple(
    dict.fromkeys(listing.records for rt in CATALOG for listing in rt.children
                  if listing.records not in RESOURCE_SPECS))
RECORD_SPECS: tuple[RecordSpec, ...] = (*RESOURCE_SPECS, *CHILD_SPECS)
RAW_TABLES: tuple[str, ...] = tuple(spec.table for spec in RECORD_SPECS)
TYPED_TABLES: tuple[str, ...] = tuple(spec.typed for spec in RECORD_SPECS)

# The sync settings (LitmosSettings fields) that turn a type or a list on.
OPTIONS: tuple[str, ...] = tuple(dict.fromkeys(
    o for rt in CATALOG for o in (rt.option, *(lst.option for lst in rt.children)) if o))


def resource_type(type_id: str) -> ResourceType | None:
    return BY_ID.get(type_id)


def entitlement_patterns() -> str:
    """The entitlement ids, as an asset description: `team:<id>:member|leader|admin, ...`."""
    return ", ".join(f"{rt.id}:<id>:" + "|".join(e.slug for e in rt.entitlements)
                     for rt in CATALOG if rt.entitlements)


def child_specs(rt: ResourceType) -> tuple[RecordSpec, ...]:
    """The raw tables of a type's per-resource lists (team members, enrollments, and the
    records of a child type: modules)."""
    return tuple(dict.fromkeys(listing.records for listing in rt.children))


__all__ = [
    "BY_ID", "CATALOG", "CHILD_SPECS", "COURSE", "COURSES", "COURSE_ENROLLMENTS", "ID_FIELD",
    "LEARNING_PATH", "LEARNING_PATHS", "LEARNING_PATH_USERS", "MODULE", "MODULES", "OPTIONS",
    "RAW_TABLES", "RECORD_SPECS", "RESOURCE_SPECS", "TEAM", "TEAMS", "TEAM_MEMBERS",
    "TEAM_ROLE_PATHS", "TYPED_TABLES", "USER", "USERS", "Entitlement", "Listing", "RecordSpec",
    "ResourceType", "Target", "Verb", "child_specs", "entitlement_patterns", "resource_type",
]
