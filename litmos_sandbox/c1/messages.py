"""Id-based message builders: the Entitlement, principal and Grant messages C1 would send."""

from __future__ import annotations

from litmos_pipeline.c1 import ids
from litmos_pipeline.c1.proto import connector_v2_pb2 as v2


def _resource(resource_type: str, resource_id: str) -> v2.Resource:
    return v2.Resource(id=v2.ResourceId(resource_type=resource_type, resource=resource_id))


def entitlement_from_id(entitlement_id: str) -> v2.Entitlement:
    """An Entitlement message as C1 would send it, built from `<type>:<id>:<slug>`."""
    ref = ids.parse_entitlement_id(entitlement_id)
    return v2.Entitlement(
        id=entitlement_id,
        slug=ref.slug,
        display_name=f"{ref.resource_type} {ref.resource_id} {ref.slug}",
        resource=_resource(ref.resource_type, ref.resource_id),
        purpose=v2.Entitlement.PURPOSE_VALUE_ASSIGNMENT,
        grantable_to=[
            v2.ResourceType(id=ids.RESOURCE_TYPE_USER, traits=[v2.ResourceType.TRAIT_USER])
        ],
    )


def principal_from(value: v2.Resource | str | tuple[str, str]) -> v2.Resource:
    """A principal Resource from a message, `'user:u42'` or `('user', 'u42')`."""
    if isinstance(value, v2.Resource):
        return value
    if isinstance(value, tuple):
        return _resource(*value)
    return _resource(*ids.parse_resource_external_id(value))


def grant_from_id(grant_id: str) -> v2.Grant:
    """A Grant message from `<entitlement_id>:<principal_type>:<principal_id>`."""
    ref = ids.parse_grant_id(grant_id)
    return v2.Grant(
        id=grant_id,
        entitlement=entitlement_from_id(ref.entitlement.id),
        principal=_resource(ref.principal_type, ref.principal_id),
    )
