"""Carry out one C1 provisioning task against Litmos: validate, change, read back.

Knows Litmos and C1's ids, not Dagster: the provision op wires it to the task loop and
the warehouse. Every step is idempotent, so a task delivered twice, or re-run after a run
died between the Litmos call and FinishTask, has one effect.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from google.protobuf import struct_pb2

from litmos_pipeline import catalog
from litmos_pipeline.c1 import actions, ids, messages
from litmos_pipeline.c1.proto import baton_v1_pb2 as baton
from litmos_pipeline.c1.proto import connector_v2_pb2 as v2
from litmos_pipeline.catalog import Entitlement, Target
from litmos_pipeline.catalog.base import message_flag
from litmos_pipeline.catalog.user import (
    ACCOUNT_FIELDS,
    CREDENTIAL_OPTIONS,
    USER_ACTIONS,
    user_action,
)
from litmos_pipeline.litmos.client import LitmosClient, LitmosError
from litmos_pipeline.litmos.ids import UnsafeIdError, check_id, path_segment
from litmos_pipeline.provisioning.user_actions import ActionRefused, ActiveSetter


class TaskRefused(ValueError):
    """A request that can never succeed as asked (non-retryable in C1's terms)."""


class Missing(TaskRefused):
    """The user or the team/course does not exist in Litmos."""


@dataclass(frozen=True)
class Action:
    """What a task asks of Litmos, in our terms."""

    kind: str                      # grant | revoke | create_account | action_invoke
    resource_type: str = ""        # a provisionable catalog type: team | course | learning_path
    resource_id: str = ""
    slug: str = ""
    user_id: str = ""
    account: dict[str, str] = field(default_factory=dict)
    action_name: str = ""          # action_invoke: a catalog.user.USER_ACTIONS name
    action_id: str = ""            # action_invoke: the task's id, C1's id of the action

    @property
    def entitlement_id(self) -> str:
        if not self.resource_type:
            return ""
        return ids.entitlement_id(self.resource_type, self.resource_id, self.slug)

    @property
    def grant_id(self) -> str:
        if not self.resource_type:
            return ""
        return ids.grant_id(self.entitlement_id, "user", self.user_id)


@dataclass
class Result:
    action: Action
    calls: list[str] = field(default_factory=list)
    changed: bool = False          # False: it already was so (still a success)
    user: dict[str, str | None] | None = None


def action_for(task: baton.Task) -> Action:
    """Read and check a task; raises TaskRefused for what we will never do."""
    kind = task.WhichOneof("task_type")
    if kind == "grant":
        entitlement, principal = task.grant.entitlement, task.grant.principal
        return _membership("grant", entitlement.id, principal)
    if kind == "revoke":
        grant = task.revoke.grant
        return _membership("revoke", grant.entitlement.id, grant.principal)
    if kind == "create_account":
        return Action(kind="create_account", account=_account(task.create_account))
    if kind == "action_invoke":
        return _invoke(task.id, task.action_invoke)
    raise TaskRefused(f"task kind {kind!r} is not a provisioning task")


def _membership(kind: str, entitlement_id: str, principal: v2.Resource) -> Action:
    try:
        ref = ids.parse_entitlement_id(entitlement_id)
    except ValueError as exc:
        raise TaskRefused(f"entitlement {entitlement_id!r} is not one of ours: {exc}") from None
    rt = catalog.resource_type(ref.resource_type)
    entitlement = rt.entitlement(ref.slug) if rt else None
    if entitlement is None or not entitlement.provisionable:
        if entitlement is not None and entitlement.state:
            raise TaskRefused(f"{entitlement_id} is a {ref.resource_type} state set by "
                              "Litmos, not something that can be granted or revoked")
        raise TaskRefused(f"entitlement {entitlement_id} is not one of ours")
    if principal.id.resource_type != "user" or not principal.id.resource:
        raise TaskRefused(f"principal {principal.id.resource_type}:{principal.id.resource} "
                          "is not a Litmos user")
    try:
        user_id = check_id(principal.id.resource, "principal id")
    except UnsafeIdError as exc:
        raise TaskRefused(f"{kind} of {entitlement_id!r}: {exc}") from None
    return Action(kind=kind, resource_type=ref.resource_type, resource_id=ref.resource_id,
                  slug=ref.slug, user_id=user_id)


def _account(task: baton.Task.CreateAccountTask) -> dict[str, str]:
    """The Litmos user a create_account task asks for, read by the account-creation schema
    sent with Hello (catalog/user.py): each field from AccountInfo.profile by its key."""
    _check_credentials(task.credential_options)
    info = task.account_info
    profile = _struct_strings(info.profile)
    email = next((e.address for e in info.emails if e.is_primary),
                 info.emails[0].address if info.emails else "") or profile.get("email", "")
    given = {**profile, "email": email, "login": info.login or profile.get("login", "")}
    # Older senders named the name fields first_name/last_name.
    given.setdefault("given_name", profile.get("first_name", ""))
    given.setdefault("family_name", profile.get("last_name", ""))
    missing = [f.display_name for f in ACCOUNT_FIELDS
               if f.required and not given.get(f.key, "").strip()]
    if missing:
        raise TaskRefused(f"create_account task lacks {', '.join(missing)}")
    account = {f.litmos_field: given.get(f.key, "").strip() for f in ACCOUNT_FIELDS}
    account["UserName"] = account["UserName"] or account["Email"]
    return {k: account[k] for k in ("UserName", "Email", "FirstName", "LastName")}


def _check_credentials(options: v2.CredentialOptions) -> None:
    chosen = options.WhichOneof("options")
    if chosen is not None and chosen not in CREDENTIAL_OPTIONS:
        raise TaskRefused(f"Litmos accounts are created without a password here; the "
                          f"credential option {chosen!r} is not supported "
                          f"(supported: {', '.join(CREDENTIAL_OPTIONS)})")


def _invoke(task_id: str, invoke: baton.Task.ActionInvokeTask) -> Action:
    if user_action(invoke.name) is None:
        raise TaskRefused(f"no action {invoke.name!r} (ours: "
                          f"{', '.join(a.name for a in USER_ACTIONS)})")
    if invoke.resource_type_id not in ("", catalog.USER.id):
        raise TaskRefused(f"action {invoke.name} is on users, not {invoke.resource_type_id}")
    try:
        user_id = check_id(actions.user_id_arg(invoke.args), "user id")
    except UnsafeIdError as exc:
        raise TaskRefused(f"action {invoke.name}: {exc}") from None
    return Action(kind="action_invoke", user_id=user_id, action_name=invoke.name,
                  action_id=task_id)


def _struct_strings(struct: struct_pb2.Struct) -> dict[str, str]:
    return {k: v.string_value for k, v in struct.fields.items()
            if v.WhichOneof("kind") == "string_value"}


class Provisioner:
    """Applies Actions through a (paced, retrying) Litmos client."""

    def __init__(self, client: LitmosClient, *, course_filter: tuple[str, ...] = (),
                 send_messages: bool = False, dry_run: bool = False,
                 verify_first: bool = False, log: Callable[[str], None] = print) -> None:
        self.client = client
        self.course_filter = course_filter
        self.send_messages = send_messages
        self.dry_run = dry_run
        # A task delivered again may already be done by a run that died before recording
        # it: read Litmos first and skip the write. One more read, so only on redelivery.
        self.verify_first = verify_first
        self.log = log

    def check(self, action: Action) -> None:
        """Refuse what is outside the filter or unknown to Litmos."""
        if action.kind == "create_account":
            return
        kind = action.resource_type
        rt = catalog.BY_ID[kind]
        if (rt.filter_setting and self.course_filter
                and action.resource_id not in self.course_filter):
            raise TaskRefused(f"{kind} {action.resource_id} is outside {rt.filter_setting}")
        for what, record_type, record_id in (("user", catalog.USER, action.user_id),
                                             (kind, rt, action.resource_id)):
            path = record_type.one_path.format(id=path_segment(record_id, f"{what} id"))
            if self.client.get_one(path, record_type.one_what.format(id=record_id)) is None:
                raise Missing(f"Litmos has no {what} {record_id}")

    def apply(self, action: Action) -> Result:
        if action.kind == "action_invoke":
            return self._invoke(action)
        try:
            self.check(action)
        except Missing as exc:
            if action.kind != "revoke":
                raise
            # Revoking from a user or resource that no longer exists: already gone.
            self.log(f"{exc}: nothing to revoke")
            return Result(action)
        result = Result(action)
        if self.verify_first and action.kind != "create_account" \
                and self._holds(action) == (action.kind == "grant"):
            self.log(f"{action.kind} of {action.grant_id}: Litmos already has it so")
            return result
        planned = self._plan(action)
        result.calls = [describe for describe, _ in planned]
        if self.dry_run:
            for describe in result.calls:
                self.log(f"dry run: would call {describe}")
            return result
        for describe, call in planned:
            self.log(f"calling {describe}")
            outcome = call()
            if isinstance(outcome, tuple):  # create_account: (user, created)
                result.user, result.changed = outcome
            else:
                result.changed = outcome is not False
        self._confirm(action, result)
        return result

    def _invoke(self, a: Action) -> Result:
        """A user action: set Active, read back (user_actions.py)."""
        spec = user_action(a.action_name)
        assert spec is not None  # action_for admits only our actions
        setter = ActiveSetter(self.client, dry_run=self.dry_run, log=self.log)
        try:
            calls, changed, user = setter.apply(spec, a.user_id)
        except ActionRefused as exc:
            raise TaskRefused(str(exc)) from None
        return Result(a, calls=calls, changed=changed, user=dict(user))

    def _plan(self, a: Action) -> list[tuple[str, Callable[[], object]]]:
        if a.kind == "create_account":
            msg = message_flag(self.send_messages)
            return [(f"POST /users ({a.account['UserName']}, {msg})",
                     lambda: self._create_user(a.account))]
        entitlement = _entitlement(a)
        verb = entitlement.grant if a.kind == "grant" else entitlement.revoke
        if verb is None:  # action_for admits only provisionable entitlements
            raise TaskRefused(f"{a.kind} of {a.entitlement_id} is not supported")
        target = _target(a, self.send_messages)
        return [(verb.text(target), lambda: verb.call(self.client, target))]

    def _create_user(self, account: dict[str, str]) -> tuple[dict[str, str | None], bool]:
        """POST /users; a second delivery of the task finds the user it created."""
        existing = self._find_user(account["UserName"])
        if existing is not None:
            return existing, False
        try:
            return self.client.create_user(account, send_message=self.send_messages), True
        except LitmosError as exc:
            if exc.status != 400:
                raise
            existing = self._find_user(account["UserName"])
            if existing is None:
                raise TaskRefused(f"Litmos refused to create {account['UserName']}: {exc}") \
                    from None
            return existing, False

    def _find_user(self, user_name: str) -> dict[str, str | None] | None:
        for page in self.client.iter_pages("/users", f"users named {user_name}",
                                           params={"search": user_name}):
            for record in page:
                if (record.get("UserName") or "").lower() == user_name.lower():
                    return record
        return None

    def _confirm(self, a: Action, result: Result) -> None:
        """Read back: a success reported to C1 must be true in Litmos."""
        if a.kind == "create_account":
            if not result.user or not result.user.get("Id"):
                raise LitmosError("Litmos answered the user creation without an Id")
            return
        present = self._holds(a)
        if present != (a.kind == "grant"):
            raise LitmosError(
                f"read-back after {a.kind} of {a.grant_id}: Litmos still "
                f"{'lacks' if a.kind == 'grant' else 'has'} it", retryable=True)

    def _holds(self, a: Action) -> bool:
        holds = _entitlement(a).holds
        if holds is None:
            raise TaskRefused(f"{a.entitlement_id} cannot be read back from Litmos")
        return holds(self.client, _target(a, self.send_messages))


def _entitlement(a: Action) -> Entitlement:
    entitlement = catalog.BY_ID[a.resource_type].entitlement(a.slug)
    if entitlement is None:
        raise TaskRefused(f"entitlement {a.entitlement_id} is not one of ours")
    return entitlement


def _target(a: Action, send_message: bool) -> Target:
    return Target(a.resource_id, a.user_id, send_message)


def grant_message(a: Action) -> v2.Grant:
    """The grant as C1 knows it, with the contract's ids."""
    return messages.user_grant(a.resource_type, a.resource_id, a.slug, a.user_id)


def user_resource(user: dict[str, str | None]) -> v2.Resource:
    return messages.user_resource(user)
