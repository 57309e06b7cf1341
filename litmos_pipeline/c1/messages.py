"""The one home of the C1 messages built from ids: resources, entitlement references,
grants, and the user display-name rule.

Provisioning (the grant it reports back), the c1z writer's encoding (the grant it stores)
and the C1 sandbox (the grant a task carries) all build their messages here, so the three
cannot drift apart. The SQL transform names users by the same rule: `DUCKDB_MACROS` holds
it as a DuckDB macro, and tests/c1/test_messages.py holds the two forms equal over hostile
names (blank, whitespace of every kind, unicode) and over every code point DuckDB trims.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from litmos_pipeline.c1 import ids
from litmos_pipeline.c1.proto import connector_v2_pb2 as v2

# What DuckDB's trim() removes: the Unicode space separators (category Zs), and nothing
# else (tabs and line breaks stay). Written out, not derived from unicodedata at import:
# scanning every code point costs a third of a second, and the test checks this list
# against DuckDB code point by code point.
SPACES: Final = ("\u0020\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
                 "\u2008\u2009\u200a\u202f\u205f\u3000")


def nonblank(value: str | None) -> str | None:
    """The value trimmed of spaces, or None if nothing is left: SQL's `nonblank(s)`."""
    if value is None:
        return None
    return value.strip(SPACES) or None


def user_display_name(first_name: str | None, last_name: str | None,
                      user_name: str | None, user_id: str | None) -> str | None:
    """A Litmos user's name in C1: "First Last" (blank parts left out), else the login,
    else the id. The transform's `c1_user_display_name` macro is the same rule."""
    full = " ".join(p for p in (nonblank(first_name), nonblank(last_name)) if p)
    return full or user_name or user_id


# The rule above as a DuckDB macro, installed on every warehouse connection next to the
# id macros. `nonblank` is trim + nullif, as in transform.sql; concat_ws skips NULLs; an
# empty login (never staged: the loader stores "" as NULL) is skipped as Python's `or` does.
DUCKDB_MACROS: Final = (
    "CREATE OR REPLACE TEMP MACRO c1_user_display_name(first_name, last_name, user_name, "
    "user_id) AS coalesce(nullif(concat_ws(' ', nullif(trim(first_name), ''), "
    "nullif(trim(last_name), '')), ''), nullif(user_name, ''), user_id)",
)


def resource(resource_type: str, resource_id: str,
             display_name: str | None = None) -> v2.Resource:
    """A Resource carrying only its id (and a display name when one is given)."""
    msg = v2.Resource(display_name=display_name or "")
    msg.id.resource_type = resource_type
    msg.id.resource = resource_id
    return msg


def entitlement_ref(entitlement_id: str, entitlement_resource: v2.Resource,
                    slug: str = "") -> v2.Entitlement:
    """The entitlement as a grant embeds it: its id and its resource, and the slug where
    the sender includes it (provisioning does, the c1z writer leaves it to the full
    entitlement in v1_entitlements). An empty slug is not encoded at all."""
    return v2.Entitlement(id=entitlement_id, resource=entitlement_resource, slug=slug)


def grant(entitlement: v2.Entitlement, principal: v2.Resource,
          grant_id: str | None = None) -> v2.Grant:
    """A Grant of `entitlement` to `principal`; its id is the contract's unless given."""
    if grant_id is None:
        grant_id = ids.grant_id(entitlement.id, principal.id.resource_type,
                                principal.id.resource)
    msg = v2.Grant(id=grant_id)
    msg.entitlement.CopyFrom(entitlement)
    msg.principal.CopyFrom(principal)
    return msg


def user_grant(resource_type: str, resource_id: str, slug: str, user_id: str) -> v2.Grant:
    """The grant of `<type>:<id>:<slug>` to a Litmos user, as provisioning reports it."""
    entitlement_id = ids.entitlement_id(resource_type, resource_id, slug)
    return grant(entitlement_ref(entitlement_id, resource(resource_type, resource_id), slug),
                 resource(ids.RESOURCE_TYPE_USER, user_id))


def user_resource(user: Mapping[str, str | None]) -> v2.Resource:
    """A Litmos user record (API field names) as the Resource C1 is told of."""
    user_id = user.get("Id") or ""
    name = user_display_name(user.get("FirstName"), user.get("LastName"),
                             user.get("UserName"), user_id)
    return resource(ids.RESOURCE_TYPE_USER, user_id, name)


def rate_limit_exceeded(limit: int, reset_s: float, now: float) -> v2.RateLimitDescription:
    """A task's answer when the source's rate limit stopped it: over the limit, nothing
    left, free again `reset_s` after `now` (epoch seconds)."""
    msg = v2.RateLimitDescription(status=v2.RateLimitDescription.STATUS_OVERLIMIT,
                                  limit=limit, remaining=0)
    msg.reset_at.FromNanoseconds(int((now + reset_s) * 1e9))
    return msg
