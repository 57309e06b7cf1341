"""The Litmos endpoints: each maps a request to tenant reads or writes and renders
the answer. ``LitmosApp`` (``app.py``) adds keys, limits and faults around them."""

from __future__ import annotations

from litmos_sandbox.litmos.bodies import bulk_pairs, ids_from, object_fields, parse_body
from litmos_sandbox.litmos.request import Call
from litmos_sandbox.litmos.tenant import (
    COURSE_FIELDS,
    COURSE_USER_FIELDS,
    LEARNING_PATH_COURSE_FIELDS,
    LEARNING_PATH_FIELDS,
    MEMBER_FIELDS,
    MODULE_FIELDS,
    TEAM_FIELDS,
    USER_COURSE_FIELDS,
    USER_FIELDS,
    USER_LEARNING_PATH_FIELDS,
    USER_LIST_FIELDS,
    Row,
    Tenant,
    TenantError,
)
from litmos_sandbox.litmos.wire import (
    JSON_TYPE,
    XML_PROLOG,
    XML_TYPE,
    XSI_NS,
    Response,
    empty,
    json_bytes,
    xml_list,
    xml_one,
    xml_row,
)


class Endpoints:
    """The endpoint handlers; ``routes.py`` maps paths to them."""

    tenant: Tenant

    @staticmethod
    def _list(call: Call, root: str, item: str, fields: tuple[str, ...],
              rows: list[Row]) -> Response:
        if call.as_json:
            return Response(200, json_bytes([dict(zip(fields, r, strict=True)) for r in rows]),
                            JSON_TYPE)
        return Response(200, xml_list(root, item, fields, rows), XML_TYPE)

    @staticmethod
    def _one(call: Call, item: str, fields: tuple[str, ...], row: Row,
             status: int = 200) -> Response:
        if call.as_json:
            return Response(status, json_bytes(dict(zip(fields, row, strict=True))), JSON_TYPE)
        return Response(status, xml_one(item, fields, row), XML_TYPE)

    def users_list(self, call: Call) -> Response:
        start, limit = call.paging()
        active_only = call.query.get("showinactive", "").lower() == "false"
        rows, _ = self.tenant.page_users(start, limit, call.search, active_only)
        return self._list(call, "Users", "User", USER_LIST_FIELDS, rows)

    def users_paginated(self, call: Call) -> Response:
        start, limit = call.paging()
        active_only = call.query.get("showinactive", "").lower() == "false"
        rows, total = self.tenant.page_users(start, limit, call.search, active_only)
        if call.as_json:
            doc = {
                "Pagination": {"BatchParam": "", "BatchSize": limit, "Start": start,
                               "TotalCount": total},
                "Items": [dict(zip(USER_LIST_FIELDS, r, strict=True)) for r in rows],
            }
            return Response(200, json_bytes(doc), JSON_TYPE)
        parts = [
            XML_PROLOG, f'<UserCollection xmlns:i="{XSI_NS}">',
            f"<Pagination><BatchParam></BatchParam><BatchSize>{limit}</BatchSize>"
            f"<Start>{start}</Start><TotalCount>{total}</TotalCount></Pagination><Items>",
        ]
        for row in rows:
            xml_row(parts, "User", USER_LIST_FIELDS, row)
        parts.append("</Items></UserCollection>")
        return Response(200, "".join(parts).encode("utf-8"), XML_TYPE)

    def user_create(self, call: Call) -> Response:
        user = self.tenant.create_user(object_fields(call.body, "User"))
        return self._one(call, "User", USER_FIELDS, self.tenant.user_detail(user.id), 201)

    def user_get(self, call: Call) -> Response:
        return self._one(call, "User", USER_FIELDS, self.tenant.user_detail(call.params[0]))

    def user_update(self, call: Call) -> Response:
        values = object_fields(call.body, "User")
        if not in_documented_order(values):
            # As litmos-api.md warns: fields out of the documented order and Litmos
            # ignores the update (answering as if it took it). Only a read-back tells.
            user_id = call.params[0]
            return self._one(call, "User", USER_FIELDS, self.tenant.user_detail(user_id))
        user = self.tenant.update_user(call.params[0], values)
        return self._one(call, "User", USER_FIELDS, self.tenant.user_detail(user.id))

    def user_delete(self, call: Call) -> Response:
        self.tenant.delete_user(call.params[0])
        return empty()

    def user_teams(self, call: Call) -> Response:
        start, limit = call.paging()
        rows = self.tenant.page_user_teams(call.params[0], start, limit)
        return self._list(call, "Teams", "Team", TEAM_FIELDS, rows)

    def user_courses(self, call: Call) -> Response:
        start, limit = call.paging()
        rows = self.tenant.page_user_courses(call.params[0], start, limit, call.search)
        return self._list(call, "Courses", "Course", USER_COURSE_FIELDS, rows)

    def user_courses_assign(self, call: Call) -> Response:
        ids = ids_from(parse_body(call.body), "Courses", "Course")
        self.tenant.assign_courses(call.params[0], ids)
        return empty()

    def users_courses_bulk(self, call: Call) -> Response:
        pairs = bulk_pairs(call.body)
        with self.tenant.lock:  # all or nothing: check every id before assigning
            for uid, course_ids in pairs:
                if self.tenant.user(uid) is None:
                    raise TenantError(404, f"user {uid!r} not found")
                for cid in course_ids:
                    if self.tenant.course(cid) is None:
                        raise TenantError(404, f"course {cid!r} not found")
            for uid, course_ids in pairs:
                self.tenant.assign_courses(uid, course_ids)
        return empty()

    def user_course_get(self, call: Call) -> Response:
        row = self.tenant.user_course(call.params[0], call.params[1])
        return self._one(call, "Course", USER_COURSE_FIELDS, row)

    def user_course_unassign(self, call: Call) -> Response:
        self.tenant.unassign_course(call.params[0], call.params[1])
        return empty()

    def teams_list(self, call: Call) -> Response:
        start, limit = call.paging()
        rows = self.tenant.page_teams(start, limit, call.search)
        return self._list(call, "Teams", "Team", TEAM_FIELDS, rows)

    def team_create(self, call: Call) -> Response:
        team = self.tenant.create_team(object_fields(call.body, "Team"))
        return self._one(call, "Team", TEAM_FIELDS, self.tenant.team_detail(team.id), 201)

    def team_get(self, call: Call) -> Response:
        return self._one(call, "Team", TEAM_FIELDS, self.tenant.team_detail(call.params[0]))

    def team_update(self, call: Call) -> Response:
        team = self.tenant.update_team(call.params[0], object_fields(call.body, "Team"))
        return self._one(call, "Team", TEAM_FIELDS, self.tenant.team_detail(team.id))

    def team_delete(self, call: Call) -> Response:
        self.tenant.delete_team(call.params[0])
        return empty()

    def sub_teams(self, call: Call) -> Response:
        start, limit = call.paging()
        rows = self.tenant.page_sub_teams(call.params[0], start, limit, call.search)
        return self._list(call, "Teams", "Team", TEAM_FIELDS, rows)

    def sub_team_create(self, call: Call) -> Response:
        team = self.tenant.create_team(object_fields(call.body, "Team"), call.params[0])
        return self._one(call, "Team", TEAM_FIELDS, self.tenant.team_detail(team.id), 201)

    def _team_people(self, call: Call, role: str) -> Response:
        start, limit = call.paging()
        rows = self.tenant.page_team_people(call.params[0], role, start, limit, call.search)
        return self._list(call, "Users", "User", MEMBER_FIELDS, rows)

    def team_members(self, call: Call) -> Response:
        return self._team_people(call, "users")

    def team_leaders(self, call: Call) -> Response:
        return self._team_people(call, "leaders")

    def team_admins(self, call: Call) -> Response:
        return self._team_people(call, "admins")

    def team_members_add(self, call: Call) -> Response:
        ids = ids_from(parse_body(call.body), "Users", "User")
        self.tenant.add_team_members(call.params[0], ids)
        return empty(201)

    def team_member_remove(self, call: Call) -> Response:
        self.tenant.remove_team_member(call.params[0], call.params[1])
        return empty()

    def team_leader_put(self, call: Call) -> Response:
        self.tenant.set_team_role(call.params[0], "leaders", call.params[1], True)
        return empty()

    def team_leader_delete(self, call: Call) -> Response:
        self.tenant.set_team_role(call.params[0], "leaders", call.params[1], False)
        return empty()

    def team_admin_put(self, call: Call) -> Response:
        self.tenant.set_team_role(call.params[0], "admins", call.params[1], True)
        return empty()

    def team_admin_delete(self, call: Call) -> Response:
        self.tenant.set_team_role(call.params[0], "admins", call.params[1], False)
        return empty()

    def team_courses(self, call: Call) -> Response:
        start, limit = call.paging()
        rows = self.tenant.page_team_courses(call.params[0], start, limit)
        return self._list(call, "Courses", "Course", COURSE_FIELDS, rows)

    def team_courses_assign(self, call: Call) -> Response:
        ids = ids_from(parse_body(call.body), "Courses", "Course")
        sub = call.query.get("includesubteams", "").lower() == "true"
        self.tenant.assign_team_courses(call.params[0], ids, sub)
        return empty()

    def team_course_unassign(self, call: Call) -> Response:
        self.tenant.unassign_team_course(call.params[0], call.params[1])
        return empty()

    def courses_list(self, call: Call) -> Response:
        start, limit = call.paging()
        rows = self.tenant.page_courses(start, limit, call.search)
        return self._list(call, "Courses", "Course", COURSE_FIELDS, rows)

    def course_get(self, call: Call) -> Response:
        return self._one(call, "Course", COURSE_FIELDS, self.tenant.course_detail(call.params[0]))

    def course_users(self, call: Call) -> Response:
        start, limit = call.paging()
        rows = self.tenant.page_course_users(call.params[0], start, limit, call.search)
        return self._list(call, "Users", "User", COURSE_USER_FIELDS, rows)

    def course_modules(self, call: Call) -> Response:
        rows = self.tenant.course_modules(call.params[0])
        start, limit = call.paging()
        return self._list(call, "Modules", "Module", MODULE_FIELDS, rows[start:start + limit])

    def learning_paths_list(self, call: Call) -> Response:
        start, limit = call.paging()
        rows = self.tenant.page_learning_paths(start, limit)
        return self._list(call, "LearningPaths", "LearningPath", LEARNING_PATH_FIELDS, rows)

    def learning_path_get(self, call: Call) -> Response:
        row = self.tenant.learning_path_detail(call.params[0])
        return self._one(call, "LearningPath", LEARNING_PATH_FIELDS, row)

    def learning_path_users(self, call: Call) -> Response:
        start, limit = call.paging()
        rows = self.tenant.page_learning_path_users(call.params[0], start, limit)
        return self._list(call, "Users", "User", MEMBER_FIELDS, rows)

    def learning_path_courses(self, call: Call) -> Response:
        start, limit = call.paging()
        rows = self.tenant.page_learning_path_courses(call.params[0], start, limit)
        return self._list(call, "Courses", "Course", LEARNING_PATH_COURSE_FIELDS, rows)

    def user_learning_paths(self, call: Call) -> Response:
        start, limit = call.paging()
        rows = self.tenant.page_user_learning_paths(call.params[0], start, limit)
        return self._list(call, "LearningPaths", "LearningPath", USER_LEARNING_PATH_FIELDS,
                          rows)

    def user_learning_paths_assign(self, call: Call) -> Response:
        # The outer element's name is not documented (<LearningPaths> by analogy with
        # courses): any is taken, its <LearningPath> children hold the ids.
        doc = parse_body(call.body)
        root = str(getattr(doc, "tag", "LearningPaths")).rsplit("}", 1)[-1]
        self.tenant.assign_learning_paths(call.params[0], ids_from(doc, root, "LearningPath"))
        return empty()

    def user_learning_path_unassign(self, call: Call) -> Response:
        self.tenant.unassign_learning_path(call.params[0], call.params[1])
        return empty()

def in_documented_order(values: dict[str, object]) -> bool:
    """The body's known user fields come in USER_FIELDS' order (others are not placed)."""
    rank = {name: i for i, name in enumerate(USER_FIELDS)}
    seen = [rank[name] for name in values if name in rank]
    return seen == sorted(seen)
