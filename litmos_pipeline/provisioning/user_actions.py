"""C1's disable/enable actions on a Litmos user: read the user, write the whole record back
with `Active` changed (PUT /users/{id}, fields in Litmos' documented order), read it again.

Idempotent: a user already so is left alone (one read, no write), so an invoke delivered
twice changes Litmos once. The account owner is never disabled: the API key is theirs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from litmos_pipeline.catalog import USER
from litmos_pipeline.catalog.user import NOT_WRITTEN, USER_RECORD_ORDER, UserAction, owner_level
from litmos_pipeline.litmos.client import LitmosClient, LitmosError
from litmos_pipeline.litmos.ids import path_segment

Record = Mapping[str, str | None]


class ActionRefused(ValueError):
    """An action that can never succeed as asked (the owner, an unknown user)."""


def is_active(record: Record) -> bool:
    return (record.get("Active") or "").strip().lower() == "true"


def write_body(record: Record, active: bool) -> dict[str, str | None]:
    """The record to PUT: every documented field it has, in the documented order, Active
    set. Fields outside the documented order are left out: where they go is unknown."""
    body: dict[str, str | None] = {}
    for name in USER_RECORD_ORDER:
        if name in record and name not in NOT_WRITTEN:
            body[name] = record[name]
    body["Active"] = "true" if active else "false"
    return body


class ActiveSetter:
    """Sets a user's Active flag as an action asks; says what it did or would do."""

    def __init__(self, client: LitmosClient, *, dry_run: bool,
                 log: Callable[[str], None]) -> None:
        self.client = client
        self.dry_run = dry_run
        self.log = log

    def read(self, user_id: str) -> Record:
        path = USER.one_path.format(id=path_segment(user_id, "user id"))
        record = self.client.get_one(path, USER.one_what.format(id=user_id))
        if record is None:
            raise ActionRefused(f"Litmos has no user {user_id}")
        return record

    def apply(self, action: UserAction, user_id: str) -> tuple[list[str], bool, Record]:
        """(calls made or planned, changed, the user as read last)."""
        record = self.read(user_id)
        if not action.active and owner_level(record.get("AccessLevel")):
            raise ActionRefused(f"user {user_id} is the Litmos account owner "
                                f"(AccessLevel {record.get('AccessLevel')}): C1 may not "
                                "disable the owner of the API key")
        if is_active(record) == action.active:
            self.log(f"{action.name} of user {user_id}: Litmos already has it so")
            return [], False, record
        calls = [f"PUT /users/{user_id} (whole record, Active="
                 f"{'true' if action.active else 'false'})"]
        if self.dry_run:
            self.log(f"dry run: would call {calls[0]}")
            return calls, False, record
        self.log(f"calling {calls[0]}")
        self.client.update_user(user_id, write_body(record, action.active))
        after = self.read(user_id)
        if is_active(after) != action.active:
            raise LitmosError(f"read-back after {action.name} of user {user_id}: Litmos "
                              f"still has Active={after.get('Active')}", retryable=True)
        return calls, True, after
