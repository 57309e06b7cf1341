"""JSON views of the sandbox's records, as the control API answers them."""

from __future__ import annotations

from typing import Any

from google.protobuf import any_pb2, json_format
from google.protobuf.message import Message

from litmos_sandbox.c1.records import FinishRecord, SandboxTask, UploadRecord


def message_json(message: Message) -> dict[str, Any]:
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


def _any_json(packed: any_pb2.Any | None) -> dict[str, Any] | None:
    if packed is None:
        return None
    try:
        return message_json(packed)
    except (json_format.Error, TypeError, KeyError):
        # A type the sandbox does not know: show what it is without decoding it.
        return {"@type": packed.type_url, "size": len(packed.value)}


def task_json(task: SandboxTask) -> dict[str, Any]:
    return {
        "task_id": task.task_id,
        "kind": task.kind,
        "state": task.state,
        "host_id": task.host_id,
        "offers": task.offers,
        "heartbeats": task.heartbeats,
        "cancel_requested": task.cancel_requested,
        "created_at": task.created_at,
        "task": message_json(task.message),
    }


def finish_json(record: FinishRecord) -> dict[str, Any]:
    return {
        "task_id": record.task_id,
        "host_id": record.host_id,
        "outcome": record.outcome,
        "non_retryable": record.non_retryable,
        "status": {"code": record.status_code, "message": record.status_message},
        "response": _any_json(record.response),
        "annotations": [_any_json(a) for a in record.annotations],
        "accepted": record.accepted,
        "reason": record.reason,
        "at": record.at,
    }


def upload_json(record: UploadRecord) -> dict[str, Any]:
    return {
        "task_id": record.task_id,
        "host_id": record.host_id,
        "path": str(record.path),
        "size": record.size,
        "sha256": record.sha256,
        "tables": list(record.tables),
        "row_counts": record.row_counts,
        "at": record.at,
    }
