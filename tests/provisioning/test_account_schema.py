"""create_account honours the account-creation schema sent with Hello (catalog/user.py)."""

from __future__ import annotations

from typing import Any

import pytest
from google.protobuf import struct_pb2

from litmos_pipeline.c1.client import account_creation_schema
from litmos_pipeline.c1.proto import baton_v1_pb2 as baton
from litmos_pipeline.c1.proto import connector_v2_pb2 as v2
from litmos_pipeline.provisioning.flow import TaskRefused, action_for
from litmos_sandbox.c1.tasks import _credential_options


def _task(profile: dict[str, Any], *, login: str = "", email: str = "",
          credential: str = "no_password") -> baton.Task:
    struct = struct_pb2.Struct()
    struct.update(profile)
    info = v2.AccountInfo(login=login, profile=struct,
                          emails=[v2.AccountInfo.Email(address=email, is_primary=True)]
                          if email else [])
    return baton.Task(id="t", create_account=baton.Task.CreateAccountTask(
        account_info=info, credential_options=_credential_options(credential)))


def test_every_schema_field_is_read_into_the_litmos_user() -> None:
    keys = set(account_creation_schema().field_map)
    profile = {"email": "jane@example.com", "given_name": "Jane", "family_name": "Doe",
               "login": "jdoe"}
    assert set(profile) == keys
    action = action_for(_task(profile))
    assert action.account == {"UserName": "jdoe", "Email": "jane@example.com",
                              "FirstName": "Jane", "LastName": "Doe"}


def test_login_defaults_to_the_email_and_emails_win_over_the_profile() -> None:
    action = action_for(_task({"given_name": "Jane", "family_name": "Doe",
                               "email": "old@example.com"}, email="jane@example.com"))
    assert action.account["UserName"] == action.account["Email"] == "jane@example.com"


@pytest.mark.parametrize("missing", ["email", "given_name", "family_name"])
def test_a_required_field_left_out_is_refused(missing: str) -> None:
    profile = {"email": "jane@example.com", "given_name": "Jane", "family_name": "Doe"}
    del profile[missing]
    with pytest.raises(TaskRefused, match="lacks"):
        action_for(_task(profile))


@pytest.mark.parametrize(("credential", "accepted"), [
    ("no_password", True), ("sso", True), ("random_password", False),
])
def test_credential_options_as_advertised(credential: str, accepted: bool) -> None:
    task = _task({"email": "j@example.com", "given_name": "J", "family_name": "D"},
                 credential=credential)
    if accepted:
        assert action_for(task).account["Email"] == "j@example.com"
    else:
        with pytest.raises(TaskRefused, match="random_password"):
            action_for(task)
