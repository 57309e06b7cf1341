"""The C1 sandbox: a stand-in for a ConductorOne tenant on loopback.

Rooms: ``records.py`` (tasks, finishes, uploads, events), ``state.py`` (the shared
state), ``tokens.py`` and ``auth.py`` (clients, assertions, bearer tokens),
``tasks.py`` (the queue), ``faults.py`` (injected failures), ``baton.py`` and
``grpc_service.py`` (BatonService), ``uploads.py`` (c1z checks), ``views.py`` and
``control_http.py`` (token endpoint and control API), ``core.py`` (all of it but the
servers, which serve a core), ``sandbox.py`` (the servers around a core),
``cli.py``, ``messages.py`` (id-based message builders).
"""

from litmos_sandbox.c1.cli import main
from litmos_sandbox.c1.faults import GRPC_FAULT_METHODS, TOKEN_FAULT_KINDS
from litmos_sandbox.c1.messages import entitlement_from_id, grant_from_id, principal_from
from litmos_sandbox.c1.records import (
    SANDBOX_TENANT_HOST,
    TASK_CANCELLED,
    TASK_FINISHED,
    TASK_LEASED,
    TASK_PENDING,
    Event,
    FinishRecord,
    SandboxTask,
    UploadRecord,
)
from litmos_sandbox.c1.sandbox import C1Sandbox
from litmos_sandbox.c1.uploads import C1zRejected, inspect_c1z
from litmos_sandbox.c1.views import finish_json, task_json, upload_json

__all__ = [
    "GRPC_FAULT_METHODS", "SANDBOX_TENANT_HOST", "TASK_CANCELLED", "TASK_FINISHED", "TASK_LEASED",
    "TASK_PENDING", "TOKEN_FAULT_KINDS", "C1Sandbox", "C1zRejected", "Event", "FinishRecord",
    "SandboxTask", "UploadRecord", "entitlement_from_id", "finish_json", "grant_from_id",
    "inspect_c1z", "main", "principal_from", "task_json", "upload_json",
]
