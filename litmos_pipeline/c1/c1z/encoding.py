"""c1.connector.v2 messages of c1z records, and the protobuf fields grants are built from.

Resource types, resources and entitlements are built with the generated classes, one
per row. Grants are too many for that: each entitlement's field is encoded once here
(`grant_entitlement_field`), and the writer's source lays out the rest of every grant's
bytes (see `source.GRANT_FIELDS`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from google.protobuf import any_pb2, struct_pb2
from google.protobuf.message import Message

from litmos_pipeline.c1 import ids, messages
from litmos_pipeline.c1.c1z.errors import C1zInputError
from litmos_pipeline.c1.proto import connector_v2_pb2 as pb

TYPE_URL_PREFIX = "type.googleapis.com/"


def varint(value: int) -> bytes:
    """Protobuf base-128 varint of a non-negative int."""
    if value < 0:
        raise ValueError(f"varint of negative value {value}")
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def serialize(message: Message) -> bytes:
    """The deterministic encoding every ``data`` column holds (map keys sorted)."""
    return message.SerializeToString(deterministic=True)


def pack_any(message: Message) -> Any:
    """Wrap a message as google.protobuf.Any with the type.googleapis.com/ URL."""
    packed = any_pb2.Any()
    packed.Pack(message, type_url_prefix=TYPE_URL_PREFIX, deterministic=True)
    return packed


def _struct_from_json(text: str, what: str) -> Any:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise C1zInputError(f"{what}: profile is not valid JSON ({exc.msg})") from None
    if not isinstance(value, dict):
        raise C1zInputError(f"{what}: profile must be a JSON object, got {type(value).__name__}")
    struct = struct_pb2.Struct()
    try:
        struct.update(value)
    except (ValueError, TypeError) as exc:
        raise C1zInputError(f"{what}: profile cannot be represented as a Struct ({exc})") from None
    return struct


def resource_type_message(
    type_id: str, display_name: str | None, traits: Sequence[int] | None, description: str | None
) -> pb.ResourceType:
    msg = pb.ResourceType(id=type_id, display_name=display_name or "")
    msg.traits.extend(traits or ())
    if description:
        msg.description = description
    return msg


@dataclass(frozen=True, slots=True)
class ResourceRow:
    """One c1_resources row, in the column order the writer selects."""

    resource_type_id: str
    resource_id: str
    external_id: str
    parent_resource_type_id: str | None
    parent_resource_id: str | None
    display_name: str | None
    description: str | None
    trait: str | None
    user_status: int | None
    user_login: str | None
    user_email: str | None
    user_given_name: str | None
    user_family_name: str | None
    user_last_login: datetime | None
    user_created_at: datetime | None
    profile: str | None


RESOURCE_COLUMNS = tuple(ResourceRow.__dataclass_fields__)


_UNIX_EPOCH = datetime(1970, 1, 1)


def _set_timestamp(target: Any, value: datetime) -> None:
    """Fill a google.protobuf.Timestamp field from a DuckDB TIMESTAMP (naive, meaning UTC)."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    # Plain arithmetic: Timestamp.FromDatetime is several times slower per call.
    delta = value - _UNIX_EPOCH
    target.seconds = delta.days * 86400 + delta.seconds
    target.nanos = delta.microseconds * 1000


def _user_trait(row: ResourceRow, profile: Any | None) -> pb.UserTrait:
    trait = pb.UserTrait(account_type=pb.UserTrait.ACCOUNT_TYPE_HUMAN)
    if row.user_email:
        trait.emails.add(address=row.user_email, is_primary=True)
    if row.user_status:
        # Deprecated upstream in favour of Resource.status, still read by older consumers.
        trait.status.status = row.user_status
    if profile is not None:
        trait.profile.CopyFrom(profile)
    if row.user_login:
        trait.login = row.user_login
    if row.user_created_at is not None:
        _set_timestamp(trait.created_at, row.user_created_at)
    if row.user_last_login is not None:
        _set_timestamp(trait.last_login, row.user_last_login)
    if row.user_given_name or row.user_family_name:
        trait.structured_name.given_name = row.user_given_name or ""
        trait.structured_name.family_name = row.user_family_name or ""
    return trait


def resource_message(row: ResourceRow) -> pb.Resource:
    """Build the Resource a c1_resources row describes (traits ride as Any annotations)."""
    what = f"resource {row.external_id!r}"
    expected = ids.resource_external_id(row.resource_type_id, row.resource_id)
    if row.external_id != expected:
        raise C1zInputError(f"{what}: external_id must be {expected!r}")
    msg = pb.Resource()
    msg.id.resource_type = row.resource_type_id
    msg.id.resource = row.resource_id
    if row.parent_resource_type_id or row.parent_resource_id:
        if not (row.parent_resource_type_id and row.parent_resource_id):
            raise C1zInputError(f"{what}: parent type and parent id must both be set or both NULL")
        msg.parent_resource_id.resource_type = row.parent_resource_type_id
        msg.parent_resource_id.resource = row.parent_resource_id
    if row.display_name:
        msg.display_name = row.display_name
    if row.description:
        msg.description = row.description
    profile = _struct_from_json(row.profile, what) if row.profile else None
    if profile is not None:
        msg.profile.CopyFrom(profile)
    if row.user_status is not None:
        if row.user_status not in (1, 2, 3):
            raise C1zInputError(f"{what}: user_status must be 1, 2 or 3, got {row.user_status}")
        msg.status.status = row.user_status
    if row.user_created_at is not None:
        _set_timestamp(msg.created_at, row.user_created_at)
    if row.trait == "user":
        msg.annotations.append(pack_any(_user_trait(row, profile)))
    elif row.trait == "group":
        group = pb.GroupTrait()
        if profile is not None:
            group.profile.CopyFrom(profile)
        msg.annotations.append(pack_any(group))
    elif row.trait is not None:
        raise C1zInputError(f"{what}: trait must be 'user', 'group' or NULL, got {row.trait!r}")
    return msg


def entitlement_message(
    entitlement_id: str,
    resource_type_id: str,
    resource_id: str,
    resource_display_name: str | None,
    slug: str,
    display_name: str | None,
    description: str | None,
    purpose: int | None,
    grantable_to: Iterable[pb.ResourceType],
    immutable: bool = False,
) -> pb.Entitlement:
    """The Entitlement a c1_entitlements row describes. `immutable`: a status the source
    sets (course completion), marked with EntitlementImmutable so C1 offers no request
    for it; its grants are still published."""
    expected = ids.entitlement_id(resource_type_id, resource_id, slug)
    if entitlement_id != expected:
        raise C1zInputError(f"entitlement {entitlement_id!r}: id must be {expected!r}")
    msg = pb.Entitlement(
        resource=_embedded_resource(resource_type_id, resource_id, resource_display_name),
        id=entitlement_id,
        display_name=display_name or "",
        description=description or "",
        purpose=purpose or 0,
        slug=slug,
    )
    msg.grantable_to.extend(grantable_to)
    if immutable:
        msg.annotations.append(pack_any(pb.EntitlementImmutable()))
    return msg


def _embedded_resource(type_id: str, resource_id: str, display_name: str | None) -> pb.Resource:
    return messages.resource(type_id, resource_id, display_name)


def grant_entitlement_field(
    entitlement_id: str, resource_type_id: str, resource_id: str, resource_display_name: str | None
) -> bytes:
    """Grant field 1 (tag, length, bytes): the entitlement a grant embeds.

    Like the Baton SDK's grant helpers: the entitlement's id and its resource (id and
    display name); the full entitlement lives in v1_entitlements.
    """
    ent = messages.entitlement_ref(
        entitlement_id, _embedded_resource(resource_type_id, resource_id, resource_display_name))
    body = serialize(ent)
    return b"\x0a" + varint(len(body)) + body


def grant_message(
    entitlement_id: str,
    resource_type_id: str,
    resource_id: str,
    resource_display_name: str | None,
    principal_type_id: str,
    principal_id: str,
    grant_id: str,
) -> pb.Grant:
    """The Grant the writer stores, built with the generated classes (reference for tests)."""
    entitlement = messages.entitlement_ref(
        entitlement_id, messages.resource(resource_type_id, resource_id, resource_display_name))
    return messages.grant(entitlement, messages.resource(principal_type_id, principal_id),
                          grant_id)

