"""Id-based messages as C1 would send them: the Entitlement, principal and Grant of a task.

Built with the product's builders (litmos_pipeline.c1.messages), so a task's grant has
exactly the shape provisioning answers with; only the stand-in entitlement fields C1
would fill from its own records (display name, purpose, grantable-to) are made up here.
"""

from __future__ import annotations

from litmos_pipeline.c1 import ids, messages
from litmos_pipeline.c1.proto import connector_v2_pb2 as v2


def entitlement_from_id(entitlement_id: str) -> v2.Entitlement:
    """An Entitlement message as C1 would send it, built from `<type>:<id>:<slug>`."""
    ref = ids.parse_entitlement_id(entitlement_id)
    entitlement = messages.entitlement_ref(
        entitlement_id, messages.resource(ref.resource_type, ref.resource_id), ref.slug)
    entitlement.display_name = f"{ref.resource_type} {ref.resource_id} {ref.slug}"
    entitlement.purpose = v2.Entitlement.PURPOSE_VALUE_ASSIGNMENT
    entitlement.grantable_to.append(
        v2.ResourceType(id=ids.RESOURCE_TYPE_USER, traits=[v2.ResourceType.TRAIT_USER]))
    return entitlement


def principal_from(value: v2.Resource | str | tuple[str, str]) -> v2.Resource:
    """A principal Resource from a message, `'user:u42'` or `('user', 'u42')`."""
    if isinstance(value, v2.Resource):
        return value
    if isinstance(value, tuple):
        return messages.resource(*value)
    return messages.resource(*ids.parse_resource_external_id(value))


def grant_from_id(grant_id: str) -> v2.Grant:
    """A Grant message from `<entitlement_id>:<principal_type>:<principal_id>`."""
    ref = ids.parse_grant_id(grant_id)
    return messages.grant(entitlement_from_id(ref.entitlement.id),
                          messages.resource(ref.principal_type, ref.principal_id), grant_id)
