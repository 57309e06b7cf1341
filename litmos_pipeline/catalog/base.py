"""The shape of a catalog entry: what one Litmos resource type is, end to end.

An entry names the lists a sync reads (and the raw table each lands in), the C1
resource type it becomes, its entitlements, and the Litmos writes that grant and revoke
them. The extract, the transform's wiring, the asset specs, the connector metadata sent
with Hello and provisioning all read these declarations instead of keeping their own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final, NamedTuple

from litmos_pipeline.c1.proto import connector_v2_pb2 as v2
from litmos_pipeline.litmos.client import LitmosClient, LitmosNotFound
from litmos_pipeline.litmos.ids import path_segment

ID_FIELD: Final = "Id"  # every Litmos record has one; the first field of every spec

TRAIT_USER: Final = v2.ResourceType.TRAIT_USER
TRAIT_GROUP: Final = v2.ResourceType.TRAIT_GROUP
ASSIGNMENT: Final = v2.Entitlement.PURPOSE_VALUE_ASSIGNMENT


@dataclass(frozen=True)
class RecordSpec:
    """A raw table: its name, extra context columns, and (API field, column) pairs.

    Raw tables hold the API's text; the typed table of the same stem (`raw_users` ->
    `litmos_users`) is built by the transform SQL block of that name, and is also the
    name of the extract asset that stages it.
    """

    table: str
    fields: tuple[tuple[str, str], ...]
    context: tuple[str, ...] = ()
    description: str = ""  # the extract asset's description
    preview: str = ""  # SQL over the raw table shown as the asset's preview

    @property
    def columns(self) -> tuple[str, ...]:
        return (*self.context, *(column for _, column in self.fields))

    @property
    def typed(self) -> str:
        return "litmos_" + self.table.removeprefix("raw_")


@dataclass(frozen=True)
class Listing:
    """A paged Litmos list read once per resource of its type (members, enrollees).

    `path` and `what` hold `{id}`, the parent's id (made a safe path segment first).
    `variant` names the team role a list holds: the extract reads the variants it is
    asked for (LITMOS_SYNC_TEAM_ROLES), in catalog order. `option` names the sync setting
    (a LitmosSettings field, e.g. `sync_modules`) without which the list is not read.
    """

    path: str
    what: str
    records: RecordSpec
    context: Mapping[str, str] = field(default_factory=dict)
    variant: str | None = None
    option: str | None = None


class Target(NamedTuple):
    """What a provisioning verb acts on."""

    resource_id: str
    user_id: str
    send_message: bool


def message_flag(send_message: bool) -> str:
    return f"sendmessage={'true' if send_message else 'false'}"


@dataclass(frozen=True)
class Verb:
    """One Litmos write. `describe` is what the audit and logs show: a format string over
    `resource`, `user` and `msg` (the sendmessage flag); `call` makes the request."""

    describe: str
    call: Callable[[LitmosClient, Target], object]

    def text(self, target: Target) -> str:
        return self.describe.format(resource=target.resource_id, user=target.user_id,
                                    msg=message_flag(target.send_message))


Holds = Callable[[LitmosClient, Target], bool]


def listed_in(path: str, what: str, id_what: str) -> Holds:
    """Read-back: the user is in the list at `path` (`{id}` = the resource's id, checked
    as an `id_what` such as "team id")."""
    def holds(client: LitmosClient, target: Target) -> bool:
        url = path.format(id=path_segment(target.resource_id, id_what))
        return any(record.get(ID_FIELD) == target.user_id
                   for page in client.iter_pages(url, what.format(id=target.resource_id))
                   for record in page)
    return holds


def found_at(path: str, what: str, id_what: str) -> Holds:
    """Read-back: GET `path` (`{id}` resource, `{user}` user) answers, not 404."""
    def holds(client: LitmosClient, target: Target) -> bool:
        url = path.format(id=path_segment(target.resource_id, id_what),
                          user=path_segment(target.user_id, "user id"))
        try:
            client.request("GET", url, what=what.format(id=target.resource_id,
                                                        user=target.user_id))
        except LitmosNotFound:
            return False
        return True
    return holds


@dataclass(frozen=True)
class Entitlement:
    """One entitlement slug of a resource type (`<type>:<id>:<slug>`).

    `label` and `verb` name it in C1 ("Sales Team Member", "Member of the Litmos team
    Sales"). `team_roles_only`: published only with LITMOS_SYNC_TEAM_ROLES. `state`:
    a status Litmos sets (course completion), never granted or revoked. An entitlement
    with `grant`/`revoke` verbs is provisionable; `holds` reads Litmos back after a write.
    """

    slug: str
    label: str
    verb: str
    purpose: int = ASSIGNMENT
    grantable_to: tuple[str, ...] = ("user",)
    team_roles_only: bool = False
    state: bool = False
    grant: Verb | None = None
    revoke: Verb | None = None
    holds: Holds | None = None

    @property
    def provisionable(self) -> bool:
        return self.grant is not None and self.revoke is not None


@dataclass(frozen=True)
class ResourceType:
    """A Litmos resource type and everything a sync or provisioning does with it.

    `list_path` lists every record (`records` is its raw table); `one_path` reads one
    (provisioning's existence check, and the extract when `filter_setting` restricts the
    sync to listed ids). `children` are the per-resource lists its grants come from.
    A type with a `parent` has no list of its own: its records come from one of the
    parent type's children (modules, listed per course), and `list_path` is empty.
    `option` names the sync setting (a LitmosSettings field) without which none of its
    lists is read; its tables are then staged empty.
    """

    id: str
    display_name: str
    description: str
    traits: tuple[int, ...]
    records: RecordSpec
    list_path: str
    list_what: str
    one_path: str
    one_what: str
    children: tuple[Listing, ...] = ()
    entitlements: tuple[Entitlement, ...] = ()
    filter_setting: str | None = None  # e.g. LITMOS_COURSE_IDS
    parent: str | None = None  # the resource type whose lists hold its records
    option: str | None = None

    @property
    def provisionable(self) -> bool:
        return any(e.provisionable for e in self.entitlements)

    @property
    def targetable(self) -> bool:
        """One resource can be read alone (its Get, in SDK terms): a targeted sync's."""
        return bool(self.one_path) and self.parent is None

    def entitlement(self, slug: str) -> Entitlement | None:
        return next((e for e in self.entitlements if e.slug == slug), None)
