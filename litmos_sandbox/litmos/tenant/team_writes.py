"""Changing the tenant's teams, as the API's team write endpoints do: teams, their
members, leaders and admins, and the courses assigned to a team.

Split from ``writes.py`` (users and enrollments); the same rules apply: ids are checked
before anything changes, refusals are ``TenantError``s.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from litmos_sandbox.litmos.tenant.model import Team, TenantError
from litmos_sandbox.litmos.tenant.writes import WritesMixin, as_text


class TeamWritesMixin(WritesMixin):
    """The team write methods the server's team write endpoints call."""

    def create_team(self, values: Mapping[str, Any], parent_id: str | None = None) -> Team:
        with self.lock:
            name = as_text(values.get("Name")).strip()
            if not name:
                raise TenantError(400, "field Name is required")
            parent_key = parent_id or as_text(values.get("ParentTeamId"))
            parent = self._need_team(parent_key).idx if parent_key else -1
            idx = len(self._team_by_idx)
            team = Team(idx=idx, id=self._new_id("team", idx), name=name,
                        code=as_text(values.get("TeamCodeForBulkImport")),
                        parent=parent, description=as_text(values.get("Description")),
                        created_date=self._now())
            self._teams.append(team)
            self._team_by_idx.append(team)
            self._team_by_id[team.id] = team
            if parent >= 0:
                self._live_team(parent).children.append(idx)
            self.changes.team(team, self.changes.now())
            return team

    def update_team(self, team_id: str, values: Mapping[str, Any]) -> Team:
        with self.lock:
            team = self._need_team(team_id)
            if "Name" in values:
                name = as_text(values["Name"]).strip()
                if not name:
                    raise TenantError(400, "field Name must not be empty")
                team.name = name
            if "Description" in values:
                team.description = as_text(values["Description"])
            if "TeamCodeForBulkImport" in values:
                team.code = as_text(values["TeamCodeForBulkImport"])
            self.changes.team(team, self.changes.now())
            return team

    def delete_team(self, team_id: str) -> None:
        """Deletes a team; its sub-teams move up to the deleted team's parent (their
        ``ParentTeamId`` changes: a change of each sub-team)."""
        with self.lock:
            team = self._need_team(team_id)
            at = self.changes.now()
            for u in dict.fromkeys([*team.members, *team.leaders, *team.admins]):
                self.changes.team_user(team, self._by_idx_live(u), at, existed=True)
            for u in team.members:
                self._by_idx_live(u).teams.remove(team.idx)
            if team.parent >= 0:
                self._live_team(team.parent).children.remove(team.idx)
            for child in team.children:
                self._live_team(child).parent = team.parent
                if team.parent >= 0:
                    self._live_team(team.parent).children.append(child)
                self.changes.team(self._live_team(child), at)
            self._teams.remove(team)
            self._team_by_idx[team.idx] = None
            del self._team_by_id[team.id]
            self.changes.team(team, at, gone=True)

    def add_team_members(self, team_id: str, user_ids: Iterable[str]) -> list[str]:
        """Adds members; unknown ids and existing members are ignored (as the API
        does). Returns the ids actually added."""
        with self.lock:
            team = self._need_team(team_id)
            added = []
            at = self.changes.now()
            for key in user_ids:
                user = self._user_by_id.get(key)
                if user is None or user.idx in team.members:
                    continue
                existed = self._holds_role(team, user.idx)
                team.members.append(user.idx)
                user.teams.append(team.idx)
                added.append(user.id)
                self.changes.team_user(team, user, at, existed=existed)
            return added

    @staticmethod
    def _holds_role(team: Team, u: int) -> bool:
        """Whether the (team, user) pair exists apart from membership: leader and
        admin are lists of their own, a leader need not be a member."""
        return u in team.leaders or u in team.admins

    def remove_team_member(self, team_id: str, user_key: str) -> None:
        """Leader/admin roles are independent lists and are left alone."""
        with self.lock:
            team = self._need_team(team_id)
            user = self._need_user(user_key)
            if user.idx not in team.members:
                raise TenantError(404, f"user {user_key!r} is not a member of team {team_id!r}")
            team.members.remove(user.idx)
            user.teams.remove(team.idx)
            self.changes.team_user(team, user, self.changes.now(), existed=True)

    def set_team_role(self, team_id: str, role: str, user_key: str, present: bool) -> bool:
        """Adds (present=True) or removes a user from a team's "leaders" or "admins".
        Returns whether anything changed; removing a user without the role is 404."""
        with self.lock:
            team = self._need_team(team_id)
            user = self._need_user(user_key)
            holders = {"leaders": team.leaders, "admins": team.admins}[role]
            existed = user.idx in team.members or self._holds_role(team, user.idx)
            if present:
                if user.idx in holders:
                    return False
                holders.append(user.idx)
            else:
                if user.idx not in holders:
                    raise TenantError(
                        404, f"user {user_key!r} is not in {role} of team {team_id!r}")
                holders.remove(user.idx)
            self.changes.team_user(team, user, self.changes.now(), existed=existed)
            return True

    def assign_team_courses(self, team_id: str, course_ids: Iterable[str],
                            include_sub_teams: bool = False) -> None:
        """Assigns courses to a team and enrols its active members (and, with
        ``include_sub_teams``, those of all its descendants)."""
        with self.lock:
            team = self._need_team(team_id)
            courses = [self._need_course(cid) for cid in course_ids]
            targets = [team]
            if include_sub_teams:
                i = 0
                while i < len(targets):
                    targets.extend(self._live_team(t) for t in targets[i].children)
                    i += 1
            at = self.changes.now()
            for target in targets:
                for course in courses:
                    if course.idx not in target.courses:
                        target.courses.append(course.idx)
                    for u in target.members:
                        if self._by_idx_live(u).active:
                            self._add_enrollee(course, u, at)

    def unassign_team_course(self, team_id: str, course_id: str) -> None:
        """Removes a course from the team's list; members' enrollments stay."""
        with self.lock:
            team = self._need_team(team_id)
            course = self._need_course(course_id)
            if course.idx not in team.courses:
                raise TenantError(404, f"course {course_id!r} is not assigned to team {team_id!r}")
            team.courses.remove(course.idx)
