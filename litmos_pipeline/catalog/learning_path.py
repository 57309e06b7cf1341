"""Litmos learning paths: who is assigned to each (LITMOS_SYNC_LEARNING_PATHS, default on).

One list of the paths and one list of users per path (`/learningpaths/{id}/users`):
learning paths are few (tens to hundreds a tenant), so the sync's cost and memory stay
those of the users and courses. The courses a path holds are not read: a course can be
in many paths, so it cannot be a child resource (C1 gives a resource one parent), and as
metadata it would cost one more list per path for what C1 does not act on.
"""

from __future__ import annotations

from litmos_pipeline.catalog.base import (
    ID_FIELD,
    Entitlement,
    Listing,
    RecordSpec,
    ResourceType,
    Target,
    Verb,
)
from litmos_pipeline.litmos.client import LitmosClient
from litmos_pipeline.litmos.ids import path_segment

LEARNING_PATHS = RecordSpec("raw_learning_paths", (
    ("Id", "id"), ("Name", "name"), ("Description", "description"), ("Active", "active"),
), description="All Litmos learning paths, with LITMOS_SYNC_LEARNING_PATHS; empty without.",
    preview="SELECT id, name, active FROM raw_learning_paths")

LEARNING_PATH_USERS = RecordSpec("raw_learning_path_users", (
    ("Id", "user_id"), ("UserName", "user_name"),
), context=("learning_path_id",),
    description="Who is assigned to each learning path (GET /learningpaths/{id}/users).",
    preview="SELECT learning_path_id, count(*) AS rows FROM raw_learning_path_users "
            "GROUP BY 1 ORDER BY 2 DESC")

LEARNING_PATH = ResourceType(
    id="learning_path", display_name="Learning Path",
    description="A Litmos learning path: a sequence of courses assigned as one",
    traits=(), records=LEARNING_PATHS,
    list_path="/learningpaths", list_what="learning paths",
    one_path="/learningpaths/{id}", one_what="learning path {id}",
    option="sync_learning_paths",
    children=(Listing("/learningpaths/{id}/users", "learning path {id} users",
                      LEARNING_PATH_USERS),),
    entitlements=(Entitlement(
        "assigned", "Assigned", "Assigned to",
        grant=Verb("POST /users/{user}/learningpaths [{resource}] ({msg})",
                   lambda c, t: c.assign_learning_path(t.user_id, t.resource_id,
                                                       send_message=t.send_message)),
        revoke=Verb("DELETE /users/{user}/learningpaths/{resource}",
                    lambda c, t: c.unassign_learning_path(t.user_id, t.resource_id)),
        holds=lambda c, t: _user_has_path(c, t)),),
)


def _user_has_path(client: LitmosClient, target: Target) -> bool:
    """Read-back: the path is in the user's learning paths. A user has a few; the path's
    own user list can run to thousands."""
    url = f"/users/{path_segment(target.user_id, 'user id')}/learningpaths"
    return any(record.get(ID_FIELD) == target.resource_id
               for page in client.iter_pages(url, f"learning paths of user {target.user_id}")
               for record in page)
