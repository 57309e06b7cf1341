"""Litmos teams (TRAIT_GROUP): members, and leaders and admins with LITMOS_SYNC_TEAM_ROLES.

Each role is its own list under the team (`/teams/{id}/users|leaders|admins`), staged
into one raw table with a role column; each role is an entitlement slug.
"""

from __future__ import annotations

from litmos_pipeline.catalog.base import (
    TRAIT_GROUP,
    Entitlement,
    Listing,
    RecordSpec,
    ResourceType,
    Verb,
    listed_in,
)

TEAMS = RecordSpec("raw_teams", (
    ("Id", "id"), ("Name", "name"), ("ParentTeamId", "parent_team_id"),
    ("TeamCodeForBulkImport", "team_code"), ("Description", "description"),
), description="All Litmos teams, with ParentTeamId (the team tree).",
    preview="SELECT id, name, parent_team_id FROM raw_teams")

TEAM_MEMBERS = RecordSpec("raw_team_members", (
    ("Id", "user_id"), ("UserName", "user_name"), ("FirstName", "first_name"),
    ("LastName", "last_name"),
), context=("team_id", "role"),
    description="Team members, plus leaders and admins when LITMOS_SYNC_TEAM_ROLES is on "
                "(two more requests per team); one role column.",
    preview="SELECT role, count(*) AS rows FROM raw_team_members GROUP BY role")

# Team roles and the collection path Litmos lists them under.
TEAM_ROLE_PATHS = {"member": "users", "leader": "leaders", "admin": "admins"}


def _role_list(role: str) -> Listing:
    collection = TEAM_ROLE_PATHS[role]
    return Listing(f"/teams/{{id}}/{collection}", f"team {{id}} {collection}", TEAM_MEMBERS,
                   {"role": role}, variant=role)


def _role(role: str, label: str, verb: str) -> Entitlement:
    """A leader or admin: PUT to make, DELETE to unmake (Litmos takes no body)."""
    path = f"/teams/{{resource}}/{TEAM_ROLE_PATHS[role]}/{{user}}"
    return Entitlement(
        role, label, verb, team_roles_only=True,
        grant=Verb(f"PUT {path}", lambda c, t: c.set_team_role(
            t.resource_id, role, t.user_id, present=True)),
        revoke=Verb(f"DELETE {path}", lambda c, t: c.set_team_role(
            t.resource_id, role, t.user_id, present=False)),
        holds=listed_in(f"/teams/{{id}}/{TEAM_ROLE_PATHS[role]}", f"team {{id}} {role}s",
                        "team id"))


TEAM = ResourceType(
    id="team", display_name="Team",
    description="A Litmos team; sub-teams point to their parent team",
    traits=(TRAIT_GROUP,), records=TEAMS,
    list_path="/teams", list_what="teams", one_path="/teams/{id}", one_what="team {id}",
    children=tuple(_role_list(role) for role in TEAM_ROLE_PATHS),
    entitlements=(
        Entitlement(
            "member", "Team Member", "Member of",
            grant=Verb("POST /teams/{resource}/users [{user}]",
                       lambda c, t: c.add_team_member(t.resource_id, t.user_id)),
            revoke=Verb("DELETE /teams/{resource}/users/{user}",
                        lambda c, t: c.remove_team_member(t.resource_id, t.user_id)),
            holds=listed_in("/teams/{id}/users", "team {id} members", "team id")),
        _role("leader", "Team Leader", "Leader of"),
        _role("admin", "Team Admin", "Admin of"),
    ),
)
