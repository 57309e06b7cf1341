"""Litmos users: C1's principals (TRAIT_USER). No entitlements of their own."""

from __future__ import annotations

from typing import NamedTuple

from litmos_pipeline.catalog.base import TRAIT_USER, RecordSpec, ResourceType

USERS = RecordSpec("raw_users", (
    ("Id", "id"), ("UserName", "user_name"), ("FirstName", "first_name"),
    ("LastName", "last_name"), ("Email", "email"), ("Active", "active"),
    ("AccessLevel", "access_level"), ("Brand", "brand"), ("LastLogin", "last_login"),
    ("CreatedDate", "created_date"),
), description="All Litmos users (active and inactive), staged for this run's sync.",
    preview="SELECT id, user_name, first_name, last_name, active FROM raw_users")

USER = ResourceType(
    id="user", display_name="User", description="A Litmos user account",
    traits=(TRAIT_USER,), records=USERS,
    list_path="/users", list_what="users", one_path="/users/{id}", one_what="user {id}",
)


class AccountField(NamedTuple):
    """One field C1 asks for when it creates a Litmos account (Hello's account-creation
    schema); its value comes back in `AccountInfo.profile` under `key`."""

    key: str
    litmos_field: str
    display_name: str
    description: str
    required: bool
    placeholder: str = ""


# The order C1 shows them in. The login may be left out: Litmos' UserName is then the email.
ACCOUNT_FIELDS: tuple[AccountField, ...] = (
    AccountField("email", "Email", "Email", "The user's email address", True,
                 "jane.doe@example.com"),
    AccountField("given_name", "FirstName", "First name", "Litmos FirstName", True, "Jane"),
    AccountField("family_name", "LastName", "Last name", "Litmos LastName", True, "Doe"),
    AccountField("login", "UserName", "Login", "Litmos UserName (defaults to the email)",
                 False, "jane.doe"),
)
# Litmos creates the account without a password: the user sets one from the invitation,
# or signs in through the account's SSO. C1's other options (a random or encrypted
# password) would need a password written to Litmos and handed back encrypted: refused.
CREDENTIAL_OPTIONS: tuple[str, ...] = ("no_password", "sso")
