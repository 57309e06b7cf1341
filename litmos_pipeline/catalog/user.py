"""Litmos users: C1's principals (TRAIT_USER). No entitlements of their own."""

from __future__ import annotations

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
