"""Litmos users: C1's principals (TRAIT_USER). No entitlements of their own; C1 creates
them (the account-creation schema) and disables or enables them (resource actions)."""

from __future__ import annotations

from typing import NamedTuple

from litmos_pipeline.c1.proto import connector_v2_pb2 as v2
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

# A single user record's fields in the order Litmos documents and answers them. PUT
# /users/{id} takes the whole record in this order: out of order, Litmos ignores the update.
USER_RECORD_ORDER: tuple[str, ...] = (
    "Id", "UserName", "FirstName", "LastName", "FullName", "Email", "AccessLevel",
    "DisableMessages", "Active", "Skype", "PhoneWork", "PhoneMobile", "LastLogin",
    "LoginKey", "IsCustomUsername", "Password", "SkipFirstLogin", "TimeZone",
    "SalesforceId", "OriginalId", "Street1", "Street2", "City", "State", "PostalCode",
    "Country", "CompanyName", "JobTitle", *(f"CustomField{i}" for i in range(1, 11)),
    "Culture", "Brand", "SalesforceContactId", "SalesforceAccountId", "CreatedDate", "Points",
)
# Never written back: LoginKey is a credential (dropped when read), Password is empty on
# read and would not be a change we mean.
NOT_WRITTEN: frozenset[str] = frozenset({"LoginKey", "Password"})


def owner_level(access_level: str | None) -> bool:
    """The account owner's AccessLevel (Litmos spells levels like `Team_Leader`; the owner's
    spelling is not documented, so `Account_Owner`, `AccountOwner`, `Account Owner` all
    count). Disabling the owner could lock the API key's owner out."""
    letters = "".join(ch for ch in (access_level or "").lower() if ch.isalpha())
    return letters == "accountowner"


class UserAction(NamedTuple):
    """A C1 resource action on `user`: sets Active through PUT /users/{id}."""

    name: str
    display_name: str
    description: str
    action_type: int  # ActionType (ACCOUNT_DISABLE / ACCOUNT_ENABLE)
    active: bool  # what Active becomes


USER_ACTIONS: tuple[UserAction, ...] = (
    UserAction("disable_user", "Disable Litmos user",
               "Sets the Litmos user inactive (Active=false); refused for the account owner",
               v2.ACTION_TYPE_ACCOUNT_DISABLE, False),
    UserAction("enable_user", "Enable Litmos user",
               "Sets the Litmos user active again (Active=true)",
               v2.ACTION_TYPE_ACCOUNT_ENABLE, True),
)
# The action's one argument: the user, as C1 names a resource.
ACTION_USER_ARG = "resource_id"


def user_action(name: str) -> UserAction | None:
    return next((a for a in USER_ACTIONS if a.name == name), None)
