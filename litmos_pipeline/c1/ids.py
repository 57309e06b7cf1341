"""The one place C1 id strings are built and parsed.

These ids are a published contract: C1 keys history and configuration on them, and
customers moving from the public Go connector (baton-litmos) keep their history only if
they stay byte-identical. The SQL transforms in the warehouse mirror these exact formats.

  resource type id   user | team | course
  resource external  <type>:<id>                                  e.g. user:u42
  entitlement id     <type>:<id>:<slug>                           e.g. course:c1:assigned
  grant id           <entitlement_id>:<principal_type>:<principal_id>
                                                                 e.g. team:t1:member:user:u42

Litmos ids contain no ':', so every part is checked for it: a ':' inside a part would
make the joined id ambiguous when parsed back. Parsing, the way ids come in from C1 (a
grant or revoke task), also holds the resource and principal ids to the Litmos id rule
(litmos.ids): they go into Litmos URL paths, where an id like `..` would re-target a write.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from litmos_pipeline.litmos.ids import UnsafeIdError, check_id, shown

SEP: Final = ":"

RESOURCE_TYPE_USER: Final = "user"
RESOURCE_TYPE_TEAM: Final = "team"
RESOURCE_TYPE_COURSE: Final = "course"
RESOURCE_TYPES: Final = (RESOURCE_TYPE_USER, RESOURCE_TYPE_TEAM, RESOURCE_TYPE_COURSE)

SLUG_TEAM_MEMBER: Final = "member"
SLUG_TEAM_LEADER: Final = "leader"
SLUG_TEAM_ADMIN: Final = "admin"
TEAM_SLUGS: Final = (SLUG_TEAM_MEMBER, SLUG_TEAM_LEADER, SLUG_TEAM_ADMIN)

SLUG_COURSE_ASSIGNED: Final = "assigned"
SLUG_COURSE_COMPLETED: Final = "completed"
SLUG_COURSE_IN_PROGRESS: Final = "in_progress"
COURSE_SLUGS: Final = (SLUG_COURSE_ASSIGNED, SLUG_COURSE_COMPLETED, SLUG_COURSE_IN_PROGRESS)

SLUGS_BY_RESOURCE_TYPE: Final[dict[str, tuple[str, ...]]] = {
    RESOURCE_TYPE_TEAM: TEAM_SLUGS,
    RESOURCE_TYPE_COURSE: COURSE_SLUGS,
}


@dataclass(frozen=True, slots=True)
class EntitlementRef:
    """An entitlement id split into its parts."""

    resource_type: str
    resource_id: str
    slug: str

    @property
    def id(self) -> str:
        return entitlement_id(self.resource_type, self.resource_id, self.slug)


@dataclass(frozen=True, slots=True)
class GrantRef:
    """A grant id split into its parts."""

    entitlement: EntitlementRef
    principal_type: str
    principal_id: str

    @property
    def id(self) -> str:
        return grant_id(self.entitlement.id, self.principal_type, self.principal_id)


def _check_part(what: str, value: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{what} must be a non-empty string, got {value!r}")
    if SEP in value:
        raise ValueError(f"{what} must not contain {SEP!r}: {value!r}")
    return value


def resource_external_id(resource_type: str, resource_id: str) -> str:
    """`<type>:<id>`: the external id of a resource row in a c1z."""
    return (
        f"{_check_part('resource type', resource_type)}{SEP}"
        f"{_check_part('resource id', resource_id)}"
    )


def entitlement_id(resource_type: str, resource_id: str, slug: str) -> str:
    """`<type>:<id>:<slug>`."""
    return f"{resource_external_id(resource_type, resource_id)}{SEP}{_check_part('slug', slug)}"


def grant_id(entitlement: str, principal_type: str, principal_id: str) -> str:
    """`<entitlement_id>:<principal_type>:<principal_id>`; the entitlement id's shape is
    validated. Builders check shape only: the Litmos id rule is for ids coming in."""
    _split("entitlement id", entitlement, 3)
    return (
        f"{entitlement}{SEP}{_check_part('principal type', principal_type)}"
        f"{SEP}{_check_part('principal id', principal_id)}"
    )


def _split(kind: str, value: str, parts: int) -> list[str]:
    if not isinstance(value, str):
        raise ValueError(f"{kind} must be a string, got {value!r}")
    pieces = value.split(SEP)
    if len(pieces) != parts or not all(pieces):
        raise ValueError(
            f"malformed {kind} {value!r}: expected {parts} non-empty ':'-separated parts"
        )
    return pieces


def _litmos_id(kind: str, value: str, what: str, part: str) -> str:
    """`part` of the id `value` if it can be a Litmos id; UnsafeIdError naming both if not."""
    try:
        return check_id(part, what)
    except UnsafeIdError as exc:
        raise UnsafeIdError(f"malformed {kind} {shown(value)}: {exc}") from None


def parse_resource_external_id(value: str) -> tuple[str, str]:
    """Split `<type>:<id>` into (type, id); the id must be a Litmos id."""
    kind = "resource external id"
    resource_type, resource_id = _split(kind, value, 2)
    return resource_type, _litmos_id(kind, value, "resource id", resource_id)


def parse_entitlement_id(value: str) -> EntitlementRef:
    """Split `<type>:<id>:<slug>`; raises ValueError naming the id if it is not exactly that
    or its resource id is not a Litmos id."""
    kind = "entitlement id"
    resource_type, resource_id, slug = _split(kind, value, 3)
    return EntitlementRef(resource_type, _litmos_id(kind, value, "resource id", resource_id),
                          slug)


def parse_grant_id(value: str) -> GrantRef:
    """Split `<type>:<id>:<slug>:<principal_type>:<principal_id>`; raises ValueError otherwise
    (also when the resource or principal id is not a Litmos id)."""
    kind = "grant id"
    resource_type, resource_id, slug, principal_type, principal_id = _split(kind, value, 5)
    entitlement = EntitlementRef(resource_type,
                                 _litmos_id(kind, value, "resource id", resource_id), slug)
    return GrantRef(entitlement, principal_type,
                    _litmos_id(kind, value, "principal id", principal_id))


# The same formats as DuckDB macros, installed on every warehouse connection, so the SQL
# transforms build ids exactly as the functions above do (tests hold the two together).
DUCKDB_MACROS: Final = (
    f"CREATE OR REPLACE TEMP MACRO c1_resource_key(t, id) AS t || '{SEP}' || id",
    f"CREATE OR REPLACE TEMP MACRO c1_entitlement_id(t, id, slug) AS "
    f"t || '{SEP}' || id || '{SEP}' || slug",
    f"CREATE OR REPLACE TEMP MACRO c1_grant_id(entitlement, principal_type, principal_id) AS "
    f"entitlement || '{SEP}' || principal_type || '{SEP}' || principal_id",
)
