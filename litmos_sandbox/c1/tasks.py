"""The task queue as tests and the control API drive it: enqueue, cancel, inspect."""

from __future__ import annotations

import copy
from typing import Any

from google.protobuf import struct_pb2

from litmos_pipeline.c1 import ids
from litmos_pipeline.c1.ksuid import new_ksuid
from litmos_pipeline.c1.proto import baton_v1_pb2 as baton
from litmos_pipeline.c1.proto import connector_v2_pb2 as v2
from litmos_sandbox.c1.messages import entitlement_from_id, grant_from_id, principal_from
from litmos_sandbox.c1.records import (
    TASK_CANCELLED,
    TASK_FINISHED,
    TASK_PENDING,
    Event,
    FinishRecord,
    SandboxTask,
    UploadRecord,
    task_snapshot,
)
from litmos_sandbox.c1.state import C1State


class TasksMixin(C1State):
    """Queueing tasks and reading what happened to them."""

    def enqueue_sync_full(self, *, targets: tuple[str, ...] = (),
                          resource_type_ids: tuple[str, ...] = (),
                          skip_entitlements_and_grants: bool = False,
                          skip_grants: bool = False) -> str:
        """A sync_full task; with `targets` (`'course:c1'`, …) a targeted one, as C1 sends
        it after a change to those resources (connectors advertising targeted sync only)."""
        sync = baton.Task.SyncFullTask(
            targeted_sync_resources=[principal_from(t) for t in targets],
            sync_resource_type_ids=list(resource_type_ids),
            skip_entitlements_and_grants=skip_entitlements_and_grants, skip_grants=skip_grants)
        return self._enqueue("sync_full", baton.Task(sync_full=sync))

    def enqueue_grant(
        self,
        entitlement: v2.Entitlement | str,
        principal: v2.Resource | str | tuple[str, str],
    ) -> str:
        """A grant task; ids are accepted for convenience (`'course:c1:assigned'`, `'user:u1'`)."""
        ent = (
            entitlement
            if isinstance(entitlement, v2.Entitlement)
            else (entitlement_from_id(entitlement))
        )
        task = baton.Task(
            grant=baton.Task.GrantTask(entitlement=ent, principal=principal_from(principal))
        )
        return self._enqueue("grant", task)

    def enqueue_revoke(self, grant: v2.Grant | str) -> str:
        msg = grant if isinstance(grant, v2.Grant) else grant_from_id(grant)
        return self._enqueue("revoke", baton.Task(revoke=baton.Task.RevokeTask(grant=msg)))

    def enqueue_create_account(
        self,
        login: str,
        email: str,
        given_name: str,
        family_name: str,
        *,
        profile: dict[str, Any] | None = None,
        resource_type_id: str = ids.RESOURCE_TYPE_USER,
        credential: str = "no_password",
    ) -> str:
        """A create_account task. The profile carries login/email/given_name/family_name
        plus anything in `profile` (C1 sends the connector's account schema fields there);
        `credential` is the CredentialOptions case C1 picked (no_password, sso,
        random_password)."""
        fields: dict[str, Any] = {
            "login": login,
            "email": email,
            "given_name": given_name,
            "family_name": family_name,
        }
        fields.update(profile or {})
        struct = struct_pb2.Struct()
        struct.update(fields)
        info = v2.AccountInfo(
            emails=[v2.AccountInfo.Email(address=email, is_primary=True)],
            login=login,
            profile=struct,
        )
        task = baton.Task(
            create_account=baton.Task.CreateAccountTask(
                account_info=info,
                credential_options=_credential_options(credential),
                resource_type_id=resource_type_id,
            )
        )
        return self._enqueue("create_account", task)

    def enqueue_action_invoke(self, name: str, user_id: str,
                              resource_type_id: str = ids.RESOURCE_TYPE_USER) -> str:
        """An action_invoke task on a user (`disable_user`, `enable_user`); the user rides
        in args as `resource_id`, the argument the action's schema names."""
        args = struct_pb2.Struct()
        args.update({"resource_id": user_id})
        task = baton.Task(action_invoke=baton.Task.ActionInvokeTask(
            name=name, args=args, resource_type_id=resource_type_id))
        return self._enqueue("action_invoke", task)

    def enqueue_action_list_schemas(self, resource_type_id: str = "") -> str:
        task = baton.Task(action_list_schemas=baton.Task.ActionListSchemasTask(
            resource_type_id=resource_type_id))
        return self._enqueue("action_list_schemas", task)

    def enqueue_action_get_schema(self, name: str) -> str:
        task = baton.Task(action_get_schema=baton.Task.ActionGetSchemaTask(name=name))
        return self._enqueue("action_get_schema", task)

    def enqueue_action_status(self, action_id: str, name: str = "") -> str:
        """A status task for the action an invoke started (its id: the invoke task's)."""
        task = baton.Task(action_status=baton.Task.ActionStatusTask(name=name, id=action_id))
        return self._enqueue("action_status", task)

    def enqueue_task(self, task: baton.Task) -> str:
        """Queue any Task message (its id is replaced by a fresh one)."""
        kind = task.WhichOneof("task_type")
        if kind is None:
            raise ValueError("the task has no task_type set")
        return self._enqueue(kind, copy.deepcopy(task))

    def _enqueue(self, kind: str, task: baton.Task) -> str:
        with self._lock:
            task_id = new_ksuid(self._clock())
            task.id = task_id
            task.status = baton.Task.STATUS_PENDING
            self._seq += 1
            self._tasks[task_id] = SandboxTask(
                task_id=task_id, kind=kind, message=task, seq=self._seq, created_at=self._clock()
            )
            self._event("task_enqueued", task_id, kind)
            return task_id

    def cancel(self, task_id: str) -> None:
        """Ask for the task to stop: its next Heartbeat answers cancelled; it is not re-offered."""
        with self._lock:
            task = self._require_task(task_id)
            if task.state == TASK_FINISHED:
                raise ValueError(f"task {task_id} is already finished")
            task.cancel_requested = True
            if task.state == TASK_PENDING:
                task.state = TASK_CANCELLED
            self._event("cancel_requested", task_id)

    def task(self, task_id: str) -> SandboxTask:
        with self._lock:
            self._sweep_leases(self._clock())
            return task_snapshot(self._require_task(task_id))

    def tasks(self) -> list[SandboxTask]:
        with self._lock:
            self._sweep_leases(self._clock())
            return [task_snapshot(t) for t in sorted(self._tasks.values(), key=lambda t: t.seq)]

    def finished(self, task_id: str) -> FinishRecord | None:
        """The accepted FinishTask for the task, or None while it is unfinished."""
        with self._lock:
            for record in reversed(self._finishes):
                if record.task_id == task_id and record.accepted:
                    return record
            return None

    @property
    def finishes(self) -> list[FinishRecord]:
        with self._lock:
            return list(self._finishes)

    def uploads(self, task_id: str | None = None) -> list[UploadRecord]:
        with self._lock:
            return [u for u in self._uploads if task_id is None or u.task_id == task_id]

    @property
    def hellos(self) -> list[baton.BatonServiceHelloRequest]:
        with self._lock:
            return [copy.deepcopy(h) for h in self._hellos]

    def capabilities(self) -> set[str]:
        """The connector capabilities (`CAPABILITY_…` names) the newest Hello announced:
        C1 offers a connector only the task kinds these cover."""
        with self._lock:
            if not self._hellos:
                return set()
            caps = self._hellos[-1].connector_metadata.capabilities.connector_capabilities
        return {v2.Capability.Name(c) for c in caps}

    @property
    def events(self) -> list[Event]:
        with self._lock:
            return list(self._events)


def _credential_options(credential: str) -> v2.CredentialOptions:
    options = v2.CredentialOptions
    cases = {
        "no_password": lambda: options(no_password=options.NoPassword()),
        "sso": lambda: options(sso=options.SSO(sso_provider="sandbox-idp")),
        "random_password": lambda: options(random_password=options.RandomPassword(length=16)),
    }
    if credential not in cases:
        raise ValueError(f"credential must be one of {sorted(cases)}, not {credential!r}")
    return cases[credential]()
