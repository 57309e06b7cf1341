"""C1 resource actions on Litmos users, as the protocol describes them: the schemas C1
lists, and the answers to invoke and status tasks.

The actions themselves (what they change in Litmos) are declared in catalog/user.py;
provisioning carries them out. An action's id is the id of the invoke task that ran it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from google.protobuf import struct_pb2

from litmos_pipeline.c1.proto import config_v1_pb2 as config
from litmos_pipeline.c1.proto import connector_v2_pb2 as v2
from litmos_pipeline.catalog import USER
from litmos_pipeline.catalog.user import ACTION_USER_ARG, USER_ACTIONS, UserAction


def action_schema(action: UserAction) -> v2.BatonActionSchema:
    """One action as C1 lists it: resource-scoped on `user`, one argument (the user)."""
    user_arg = config.Field(name=ACTION_USER_ARG, display_name="User",
                            description="The Litmos user (its id)", is_required=True,
                            resource_id_field=config.ResourceIdField())
    return v2.BatonActionSchema(
        name=action.name, display_name=action.display_name, description=action.description,
        arguments=[user_arg], action_type=[action.action_type], resource_type_id=USER.id)


def list_schemas(resource_type_id: str = "") -> v2.ListActionSchemasResponse:
    """Every action, or those of `resource_type_id` (all ours are on `user`)."""
    schemas = [action_schema(a) for a in USER_ACTIONS
               if resource_type_id in ("", USER.id)]
    return v2.ListActionSchemasResponse(schemas=schemas)


def get_schema(name: str) -> v2.GetActionSchemaResponse | None:
    """The named action's schema; None for a name we do not serve."""
    action = next((a for a in USER_ACTIONS if a.name == name), None)
    return v2.GetActionSchemaResponse(schema=action_schema(action)) if action else None


def response_struct(values: Mapping[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(dict(values))
    return struct


def invoke_response(action_id: str, name: str, values: Mapping[str, Any]) -> \
        v2.InvokeActionResponse:
    """A finished action: the invoke task's answer once Litmos was changed and read back."""
    return v2.InvokeActionResponse(id=action_id, name=name,
                                   status=v2.BATON_ACTION_STATUS_COMPLETE,
                                   response=response_struct(values))


def status_response(action_id: str, name: str, status: int,
                    response: struct_pb2.Struct | None = None) -> v2.GetActionStatusResponse:
    msg = v2.GetActionStatusResponse(id=action_id, name=name, status=status)
    if response is not None:
        msg.response.CopyFrom(response)
    return msg


def user_id_arg(args: struct_pb2.Struct) -> str:
    """The user an invoke names: `resource_id` as a string, or as a ResourceId-shaped
    struct (`resource`, or `resource_id`, with `resource_type` `user`); `user_id` too.
    Empty when none is given."""
    fields = args.fields
    for key in (ACTION_USER_ARG, "user_id"):
        if key not in fields:
            continue
        value = fields[key]
        if value.WhichOneof("kind") == "string_value":
            return value.string_value
        if value.WhichOneof("kind") == "struct_value":
            inner = value.struct_value.fields
            kind = inner.get("resource_type") or inner.get("resource_type_id")
            if kind is not None and kind.string_value not in ("", USER.id):
                return ""
            for id_key in ("resource", "resource_id", "id"):
                if id_key in inner and inner[id_key].string_value:
                    return inner[id_key].string_value
    return ""
