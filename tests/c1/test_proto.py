"""Our .proto files against the public Baton SDK schema: names, field numbers, wire bytes.

The expected numbers below are transcribed from the public schemas
(baton-sdk proto/c1/connector/v2/*.proto and proto/c1/connectorapi/baton/v1/baton.proto).
Each field is also set on its own, serialized and decoded at the wire level, so a wrong
number in our .proto (or stale generated code) fails here.
"""

from __future__ import annotations

from typing import Any

import pytest
from google.protobuf import any_pb2, duration_pb2, struct_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from google.rpc import status_pb2

from litmos_pipeline.c1.proto import baton_v1_pb2 as bv1
from litmos_pipeline.c1.proto import baton_v1_pb2_grpc as bv1_grpc
from litmos_pipeline.c1.proto import config_v1_pb2 as cfg1
from litmos_pipeline.c1.proto import connector_v2_pb2 as v2

# --------------------------------------------------------------------------- wire decoding


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, pos


def wire_fields(data: bytes) -> list[tuple[int, int, Any]]:
    """Top-level (field number, wire type, value) triples of an encoded message."""
    out: list[tuple[int, int, Any]] = []
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            value, pos = _varint(data, pos)
        elif wire_type == 2:
            length, pos = _varint(data, pos)
            value, pos = data[pos : pos + length], pos + length
        elif wire_type == 1:
            value, pos = data[pos : pos + 8], pos + 8
        elif wire_type == 5:
            value, pos = data[pos : pos + 4], pos + 4
        else:
            raise AssertionError(f"unexpected wire type {wire_type}")
        out.append((number, wire_type, value))
    return out


# --------------------------------------------------------------------------- expected schema

EXPECTED_FIELDS: dict[type[Message], dict[str, int]] = {
    v2.ResourceType: {
        "id": 1, "display_name": 2, "traits": 3, "annotations": 4, "description": 5,
    },
    v2.ResourceId: {"resource_type": 1, "resource": 2, "baton_resource": 3},
    v2.Resource: {
        "id": 1, "parent_resource_id": 2, "display_name": 3, "annotations": 4,
        "description": 5, "baton_resource": 6, "profile": 9, "status": 11, "created_at": 12,
    },
    v2.Status: {"status": 1, "details": 2},
    v2.UserTrait: {
        "emails": 1, "status": 2, "profile": 3, "account_type": 5, "login": 6,
        "login_aliases": 7, "created_at": 8, "last_login": 9, "structured_name": 12,
        "employee_ids": 13,
    },
    v2.UserTrait.Email: {"address": 1, "is_primary": 2},
    v2.UserTrait.Status: {"status": 1, "details": 2},
    v2.UserTrait.StructuredName: {
        "given_name": 1, "family_name": 2, "middle_names": 3, "prefix": 4, "suffix": 5,
    },
    v2.GroupTrait: {"profile": 2},
    v2.Entitlement: {
        "resource": 1, "id": 2, "display_name": 3, "description": 4, "grantable_to": 5,
        "annotations": 6, "purpose": 7, "slug": 8,
    },
    v2.Grant: {"entitlement": 1, "principal": 2, "id": 3, "annotations": 4},
    v2.GrantManagerServiceGrantRequest: {"entitlement": 1, "principal": 2, "annotations": 3},
    v2.GrantManagerServiceGrantResponse: {"annotations": 1, "grants": 2},
    v2.GrantManagerServiceRevokeRequest: {"grant": 1, "annotations": 2},
    v2.GrantManagerServiceRevokeResponse: {"annotations": 1},
    v2.AccountInfo: {"emails": 1, "login": 2, "login_aliases": 3, "profile": 4},
    v2.AccountInfo.Email: {"address": 1, "is_primary": 2},
    v2.CredentialOptions: {
        "force_change_at_next_login": 1, "random_password": 100, "no_password": 101,
        "sso": 102, "encrypted_password": 103,
    },
    v2.CredentialOptions.RandomPassword: {"length": 1, "constraints": 2},
    v2.PasswordConstraint: {"char_set": 1, "min_count": 2},
    v2.EncryptedData: {
        "provider": 1, "key_id": 2, "name": 3, "description": 4, "schema": 5,
        "encrypted_bytes": 6, "key_ids": 7,
    },
    v2.EncryptionConfig: {
        "principal": 1, "provider": 2, "key_id": 3, "jwk_public_key_config": 100,
        "age_recipient_config": 101,
    },
    v2.CreateAccountRequest: {
        "account_info": 1, "credential_options": 2, "encryption_configs": 3,
        "resource_type_id": 4,
    },
    v2.CreateAccountResponse: {
        "encrypted_data": 2, "annotations": 3, "success": 100, "action_required": 101,
        "already_exists": 102, "in_progress": 103,
    },
    v2.CreateAccountResponse.SuccessResult: {
        "resource": 1, "is_create_account_result": 2, "invitation_expires_at": 3,
    },
    v2.CreateAccountResponse.ActionRequiredResult: {
        "resource": 1, "message": 2, "is_create_account_result": 3,
    },
    v2.ConnectorMetadata: {
        "display_name": 1, "help_url": 2, "profile": 5, "annotations": 6, "description": 7,
        "capabilities": 8, "account_creation_schema": 9,
    },
    v2.ConnectorCapabilities: {
        "resource_type_capabilities": 1, "connector_capabilities": 2, "credential_details": 3,
    },
    v2.CredentialDetails: {"capability_account_provisioning": 1},
    v2.CredentialDetailsAccountProvisioning: {
        "supported_credential_options": 1, "preferred_credential_option": 2,
    },
    v2.ConnectorAccountCreationSchema: {"field_map": 1},
    v2.ConnectorAccountCreationSchema.Field: {
        "display_name": 1, "required": 2, "description": 3, "placeholder": 4, "order": 5,
        "deprecated": 6, "string_field": 100, "bool_field": 101, "string_list_field": 102,
        "int_field": 103, "map_field": 104,
    },
    v2.ConnectorAccountCreationSchema.StringField: {"default_value": 1},
    v2.EntitlementImmutable: {"source_id": 1, "metadata": 2},
    v2.RateLimitDescription: {"status": 1, "limit": 2, "remaining": 3, "reset_at": 4},
    v2.BatonActionSchema: {
        "name": 1, "arguments": 2, "constraints": 3, "return_types": 4, "display_name": 5,
        "description": 6, "action_type": 7, "resource_type_id": 8,
    },
    v2.InvokeActionResponse: {
        "id": 1, "status": 2, "annotations": 3, "response": 4, "name": 5,
    },
    v2.GetActionStatusResponse: {
        "name": 1, "id": 2, "status": 3, "annotations": 4, "response": 5,
    },
    v2.GetActionSchemaResponse: {"schema": 1, "annotations": 2},
    v2.ListActionSchemasResponse: {"schemas": 1, "annotations": 2},
    cfg1.Field: {
        "name": 1, "display_name": 2, "description": 3, "placeholder": 4, "is_required": 5,
        "is_ops": 6, "is_secret": 7, "string_field": 100, "bool_field": 102,
        "resource_id_field": 105,
    },
    cfg1.Constraint: {
        "kind": 1, "field_names": 2, "secondary_field_names": 3, "name": 4, "help_text": 5,
        "is_field_group": 6,
    },
    v2.ResourceTypeCapability: {"resource_type": 1, "capabilities": 2},
    bv1.Task: {
        "id": 1, "status": 2, "debug": 3, "none": 100, "hello": 101, "sync_full": 102,
        "grant": 103, "revoke": 104, "create_account": 105, "create_resource": 106,
        "delete_resource": 107, "event_feed": 109, "action_list_schemas": 115,
        "action_get_schema": 116, "action_invoke": 117, "action_status": 118,
    },
    bv1.Task.ActionListSchemasTask: {"annotations": 1, "resource_type_id": 2},
    bv1.Task.ActionGetSchemaTask: {"name": 1, "annotations": 2},
    bv1.Task.ActionInvokeTask: {"name": 1, "args": 2, "annotations": 3, "resource_type_id": 4},
    bv1.Task.ActionStatusTask: {"name": 1, "id": 2, "annotations": 3},
    bv1.Task.SyncFullTask: {
        "annotations": 1, "skip_expand_grants": 2, "skip_entitlements_and_grants": 3,
        "targeted_sync_resources": 4, "sync_resource_type_ids": 5, "skip_grants": 6,
        "storage_engine": 7,
    },
    bv1.Task.GrantTask: {"entitlement": 1, "principal": 2, "annotations": 3, "duration": 4},
    bv1.Task.RevokeTask: {"grant": 1, "annotations": 2},
    bv1.Task.CreateAccountTask: {
        "account_info": 1, "credential_options": 2, "encryption_configs": 3,
        "resource_type_id": 4,
    },
    bv1.BatonServiceHelloRequest: {
        "host_id": 1, "task_id": 2, "build_info": 3, "os_info": 4, "connector_metadata": 5,
        "annotations": 6,
    },
    bv1.BatonServiceHelloRequest.BuildInfo: {
        "lang_version": 1, "package": 2, "package_version": 3,
    },
    bv1.BatonServiceHelloRequest.OSInfo: {
        "hostname": 1, "os": 2, "platform": 3, "platform_version": 4, "platform_family": 5,
        "kernel_version": 6, "kernel_arch": 7, "virtualization_system": 8,
    },
    bv1.BatonServiceHelloResponse: {"annotations": 1},
    bv1.BatonServiceGetTaskRequest: {"host_id": 1},
    bv1.BatonServiceGetTaskResponse: {
        "task": 1, "next_poll": 2, "next_heartbeat": 3, "annotations": 4,
    },
    bv1.BatonServiceHeartbeatRequest: {
        "host_id": 1, "task_id": 2, "annotations": 3, "task_ids": 4,
    },
    bv1.BatonServiceHeartbeatResponse: {
        "next_heartbeat": 1, "cancelled": 2, "annotations": 3, "cancelled_task_ids": 4,
    },
    bv1.BatonServiceUploadAssetRequest: {"metadata": 100, "data": 101, "eof": 102},
    bv1.BatonServiceUploadAssetRequest.UploadMetadata: {
        "host_id": 1, "task_id": 2, "annotations": 4,
    },
    bv1.BatonServiceUploadAssetRequest.UploadData: {"data": 1},
    bv1.BatonServiceUploadAssetRequest.UploadEOF: {"sha256_checksum": 1, "annotations": 2},
    bv1.BatonServiceFinishTaskRequest: {
        "host_id": 1, "task_id": 2, "status": 3, "error": 100, "success": 101,
    },
    bv1.BatonServiceFinishTaskRequest.Error: {
        "non_retryable": 1, "annotations": 2, "response": 3,
    },
    bv1.BatonServiceFinishTaskRequest.Success: {"annotations": 1, "response": 2},
    bv1.BatonServiceFinishTaskResponse: {"annotations": 1},
}  # fmt: skip

EXPECTED_FULL_NAMES = {
    v2.Resource: "c1.connector.v2.Resource",
    v2.UserTrait: "c1.connector.v2.UserTrait",
    v2.GroupTrait: "c1.connector.v2.GroupTrait",
    v2.Grant: "c1.connector.v2.Grant",
    v2.CreateAccountResponse: "c1.connector.v2.CreateAccountResponse",
    v2.EntitlementImmutable: "c1.connector.v2.EntitlementImmutable",
    v2.RateLimitDescription: "c1.connector.v2.RateLimitDescription",
    v2.InvokeActionResponse: "c1.connector.v2.InvokeActionResponse",
    v2.ListActionSchemasResponse: "c1.connector.v2.ListActionSchemasResponse",
    cfg1.Field: "c1.config.v1.Field",
    bv1.Task: "c1.connectorapi.baton.v1.Task",
    bv1.BatonServiceFinishTaskRequest: "c1.connectorapi.baton.v1.BatonServiceFinishTaskRequest",
}

_WIRE_TYPE = {
    FieldDescriptor.TYPE_STRING: 2,
    FieldDescriptor.TYPE_BYTES: 2,
    FieldDescriptor.TYPE_MESSAGE: 2,
    FieldDescriptor.TYPE_BOOL: 0,
    FieldDescriptor.TYPE_ENUM: 0,
    FieldDescriptor.TYPE_INT64: 0,
    FieldDescriptor.TYPE_INT32: 0,
    FieldDescriptor.TYPE_UINT32: 0,
}


def _set_one(msg: Message, field: FieldDescriptor) -> None:
    """Give one field a non-default value, whatever its type."""
    is_repeated = field.label == FieldDescriptor.LABEL_REPEATED
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        target = getattr(msg, field.name)
        if field.message_type.GetOptions().map_entry:
            target["k"].SetInParent()  # a map: one entry
        elif is_repeated:
            target.add()
        else:
            target.SetInParent()
        return
    value: Any = {
        FieldDescriptor.TYPE_STRING: "x",
        FieldDescriptor.TYPE_BYTES: b"x",
        FieldDescriptor.TYPE_BOOL: True,
    }.get(field.type, 1)
    if is_repeated:
        getattr(msg, field.name).append(value)
    else:
        setattr(msg, field.name, value)


def _id(cls: type[Message]) -> str:
    return cls.DESCRIPTOR.full_name


@pytest.mark.parametrize("cls", list(EXPECTED_FIELDS), ids=_id)
def test_field_numbers_match_public_schema(cls: type[Message]) -> None:
    descriptor: Descriptor = cls.DESCRIPTOR
    actual = {f.name: f.number for f in descriptor.fields}
    assert actual == EXPECTED_FIELDS[cls]


@pytest.mark.parametrize("cls", list(EXPECTED_FIELDS), ids=_id)
def test_each_field_encodes_with_its_public_number(cls: type[Message]) -> None:
    for name, number in EXPECTED_FIELDS[cls].items():
        msg = cls()
        field = cls.DESCRIPTOR.fields_by_name[name]
        _set_one(msg, field)
        decoded = wire_fields(msg.SerializeToString(deterministic=True))
        # proto3 packs repeated numeric fields (enums included): length-delimited.
        packed = field.label == FieldDescriptor.LABEL_REPEATED and _WIRE_TYPE[field.type] == 0
        wire_type = 2 if packed else _WIRE_TYPE[field.type]
        assert [(n, t) for n, t, _ in decoded] == [(number, wire_type)], name


@pytest.mark.parametrize(("cls", "name"), EXPECTED_FULL_NAMES.items(), ids=lambda v: str(v))
def test_package_and_message_names(cls: type[Message], name: str) -> None:
    assert cls.DESCRIPTOR.full_name == name


def test_enum_values_match_public_schema() -> None:
    assert v2.ResourceType.TRAIT_USER == 1
    assert v2.ResourceType.TRAIT_GROUP == 2
    assert v2.ResourceType.TRAIT_ROLE == 3
    assert v2.ResourceType.TRAIT_APP == 4
    assert v2.Status.RESOURCE_STATUS_ENABLED == 1
    assert v2.Status.RESOURCE_STATUS_DISABLED == 2
    assert v2.Status.RESOURCE_STATUS_DELETED == 3
    assert v2.UserTrait.Status.STATUS_ENABLED == 1
    assert v2.UserTrait.Status.STATUS_DISABLED == 2
    assert v2.UserTrait.ACCOUNT_TYPE_HUMAN == 1
    assert v2.Entitlement.PURPOSE_VALUE_ASSIGNMENT == 1
    assert v2.Entitlement.PURPOSE_VALUE_PERMISSION == 2
    assert v2.Entitlement.PURPOSE_VALUE_OWNERSHIP == 3
    assert v2.CAPABILITY_PROVISION == 1
    assert v2.CAPABILITY_SYNC == 2
    assert v2.CAPABILITY_ACCOUNT_PROVISIONING == 5
    assert v2.CAPABILITY_ACTIONS == 10
    assert v2.CAPABILITY_TARGETED_SYNC == 11
    assert v2.CAPABILITY_SERVICE_MODE_TARGETED_SYNC == 13
    assert v2.CAPABILITY_CREDENTIAL_ISSUE == 14
    assert v2.CAPABILITY_DETAIL_CREDENTIAL_OPTION_NO_PASSWORD == 1
    assert v2.CAPABILITY_DETAIL_CREDENTIAL_OPTION_SSO == 3
    assert v2.CAPABILITY_DETAIL_CREDENTIAL_OPTION_CLIENT_SECRET == 8
    assert v2.ACTION_TYPE_ACCOUNT_DISABLE == 4
    assert v2.ACTION_TYPE_ACCOUNT_ENABLE == 5
    assert v2.ACTION_TYPE_RESOURCE_DISABLE == 9
    assert v2.BATON_ACTION_STATUS_RUNNING == 3
    assert v2.BATON_ACTION_STATUS_COMPLETE == 4
    assert v2.BATON_ACTION_STATUS_FAILED == 5
    assert v2.RateLimitDescription.STATUS_OVERLIMIT == 2
    assert v2.RateLimitDescription.STATUS_ERROR == 3
    assert cfg1.CONSTRAINT_KIND_DEPENDENT_ON == 4
    assert bv1.Task.STATUS_PENDING == 1
    assert bv1.Task.STATUS_RUNNING == 3
    assert bv1.Task.STATUS_FINISHED == 4


def test_oneofs_group_the_task_kinds_and_final_states() -> None:
    task_kinds = {f.name for f in bv1.Task.DESCRIPTOR.oneofs_by_name["task_type"].fields}
    assert {"none", "hello", "sync_full", "grant", "revoke", "create_account"} <= task_kinds
    finish = bv1.BatonServiceFinishTaskRequest.DESCRIPTOR.oneofs_by_name["final_state"]
    assert {f.name for f in finish.fields} == {"error", "success"}
    upload = bv1.BatonServiceUploadAssetRequest.DESCRIPTOR.oneofs_by_name["msg"]
    assert {f.name for f in upload.fields} == {"metadata", "data", "eof"}
    result = v2.CreateAccountResponse.DESCRIPTOR.oneofs_by_name["result"]
    assert {f.name for f in result.fields} == {
        "success", "action_required", "already_exists", "in_progress",
    }  # fmt: skip


def test_finish_task_status_is_googleapis_rpc_status() -> None:
    field = bv1.BatonServiceFinishTaskRequest.DESCRIPTOR.fields_by_name["status"]
    assert field.message_type is status_pb2.Status.DESCRIPTOR
    assert field.message_type.file.name == "google/rpc/status.proto"
    req = bv1.BatonServiceFinishTaskRequest(
        task_id="t" * 27, status=status_pb2.Status(code=13, message="boom")
    )
    (_, (number, _, body)) = wire_fields(req.SerializeToString())
    assert number == 3
    assert wire_fields(body) == [(1, 0, 13), (2, 2, b"boom")]


def test_baton_service_methods() -> None:
    service = bv1.DESCRIPTOR.services_by_name["BatonService"]
    assert service.full_name == "c1.connectorapi.baton.v1.BatonService"
    methods = {m.name: m for m in service.methods}
    assert {"Hello", "GetTask", "Heartbeat", "FinishTask", "UploadAsset"} <= set(methods)
    upload = methods["UploadAsset"]
    assert upload.client_streaming and not upload.server_streaming
    for name in ("Hello", "GetTask", "Heartbeat", "FinishTask"):
        assert not methods[name].client_streaming and not methods[name].server_streaming
    assert methods["GetTask"].input_type is bv1.BatonServiceGetTaskRequest.DESCRIPTOR
    assert methods["FinishTask"].output_type is bv1.BatonServiceFinishTaskResponse.DESCRIPTOR
    assert hasattr(bv1_grpc, "BatonServiceStub")
    assert hasattr(bv1_grpc, "add_BatonServiceServicer_to_server")


# --------------------------------------------------------------------------- pinned bytes


def _ld(tag: int, body: bytes) -> bytes:
    """A length-delimited field written by hand (lengths here are < 128)."""
    assert len(body) < 128
    return bytes([tag, len(body)]) + body


def test_grant_bytes_are_pinned() -> None:
    grant = v2.Grant(
        entitlement=v2.Entitlement(
            resource=v2.Resource(id=v2.ResourceId(resource_type="course", resource="c1")),
            id="course:c1:assigned",
        ),
        principal=v2.Resource(id=v2.ResourceId(resource_type="user", resource="u1")),
        id="course:c1:assigned:user:u1",
    )
    course_id = _ld(0x0A, b"course") + _ld(0x12, b"c1")
    entitlement = _ld(0x0A, _ld(0x0A, course_id)) + _ld(0x12, b"course:c1:assigned")
    principal = _ld(0x0A, _ld(0x0A, b"user") + _ld(0x12, b"u1"))
    grant_id = _ld(0x1A, b"course:c1:assigned:user:u1")
    expected = _ld(0x0A, entitlement) + _ld(0x12, principal) + grant_id
    assert grant.SerializeToString(deterministic=True) == expected


def test_user_trait_rides_as_any_annotation() -> None:
    trait = v2.UserTrait(
        emails=[v2.UserTrait.Email(address="a@example.com", is_primary=True)],
        account_type=v2.UserTrait.ACCOUNT_TYPE_HUMAN,
        login="alice",
    )
    packed = any_pb2.Any()
    packed.Pack(trait)
    resource = v2.Resource(display_name="Alice", annotations=[packed])
    fields = wire_fields(resource.SerializeToString(deterministic=True))
    assert [n for n, _, _ in fields] == [3, 4]
    any_fields = wire_fields(fields[1][2])
    assert any_fields[0] == (1, 2, b"type.googleapis.com/c1.connector.v2.UserTrait")
    trait_fields = wire_fields(any_fields[1][2])
    assert trait_fields[0][0] == 1  # emails
    assert wire_fields(trait_fields[0][2]) == [(1, 2, b"a@example.com"), (2, 0, 1)]
    assert trait_fields[1:] == [(5, 0, 1), (6, 2, b"alice")]


def test_resource_status_and_profile_numbers_on_the_wire() -> None:
    profile = struct_pb2.Struct()
    profile.update({"k": "v"})
    resource = v2.Resource(
        status=v2.Status(status=v2.Status.RESOURCE_STATUS_DISABLED), profile=profile
    )
    fields = wire_fields(resource.SerializeToString(deterministic=True))
    assert [n for n, _, _ in fields] == [9, 11]
    assert wire_fields(fields[1][2]) == [(1, 0, 2)]


def test_task_grant_and_get_task_response_round_trip_on_the_wire() -> None:
    task = bv1.Task(
        id="2" * 27,
        status=bv1.Task.STATUS_PENDING,
        grant=bv1.Task.GrantTask(
            entitlement=v2.Entitlement(id="course:c1:assigned"),
            principal=v2.Resource(id=v2.ResourceId(resource_type="user", resource="u1")),
        ),
    )
    resp = bv1.BatonServiceGetTaskResponse(
        task=task, next_poll=duration_pb2.Duration(seconds=5)
    )
    top = wire_fields(resp.SerializeToString(deterministic=True))
    assert [n for n, _, _ in top] == [1, 2]
    task_fields = wire_fields(top[0][2])
    assert [n for n, _, _ in task_fields] == [1, 2, 103]
    grant_task = wire_fields(task_fields[2][2])
    assert [n for n, _, _ in grant_task] == [1, 2]
    assert wire_fields(grant_task[0][2]) == [(2, 2, b"course:c1:assigned")]
