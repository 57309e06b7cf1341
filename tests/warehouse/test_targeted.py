"""A targeted sync's model: the targets read afresh, and exactly a full sync's rows for them."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from litmos_pipeline import c1z_process
from litmos_pipeline.c1 import c1z
from litmos_pipeline.c1.ksuid import new_ksuid
from litmos_pipeline.c1.proto import baton_v1_pb2 as baton
from litmos_pipeline.c1.proto import connector_v2_pb2 as v2
from litmos_pipeline.c1.targeted import TargetedSync, targeted_sync
from litmos_pipeline.litmos.client import LitmosClient
from litmos_pipeline.litmos.ids import UnsafeIdError
from litmos_pipeline.warehouse import extract, snapshot, store, targeted
from litmos_sandbox.c1.tasks import principal_from
from litmos_sandbox.litmos import LitmosSandbox

ROLES = ("member", "leader", "admin")
OPTIONS = ("sync_modules", "sync_learning_paths")
ROWS = {"c1_resources": "resource_type_id, resource_id",
        "c1_entitlements": "resource_type_id, resource_id",
        "c1_grants": "resource_type_id, resource_id"}


def task(*targets: str, types: tuple[str, ...] = (), skip_grants: bool = False) -> baton.Task:
    return baton.Task(id="t1", sync_full=baton.Task.SyncFullTask(
        targeted_sync_resources=[principal_from(t) for t in targets],
        sync_resource_type_ids=list(types), skip_grants=skip_grants))


def client(sandbox: LitmosSandbox) -> LitmosClient:
    return LitmosClient(sandbox.base_url, sandbox.api_key, "pytest", requests_per_minute=None,
                        backoff_base_s=0.01)


def full_model(sandbox: LitmosSandbox, path: Path) -> None:
    with client(sandbox) as c, store.opened(path) as con:
        extract.load_all(con, c, roles=ROLES, options=OPTIONS)
        snapshot.build_model(con, sync_team_roles=True)


def partial_model(sandbox: LitmosSandbox, path: Path, wanted: TargetedSync
                  ) -> targeted.TargetedModel:
    with client(sandbox) as c:
        return targeted.build(path, c, wanted, roles=ROLES, options=OPTIONS,
                              sync_team_roles=True, memory_limit="96MB")


@pytest.fixture
def full(tiny_sandbox: LitmosSandbox, tmp_path: Path) -> Path:
    """A full sync's model of the tiny tenant, to compare a partial one with."""
    path = tmp_path / "full.duckdb"
    full_model(tiny_sandbox, path)
    return path


def first(path: Path, resource_type: str, where: str = "true") -> str:
    """The first resource id of a type in a model (a course with the most grants)."""
    if resource_type == "course":
        return pick(path, "SELECT resource_id FROM c1_grants WHERE resource_type_id = "
                          "'course' GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1")
    return pick(path, f"SELECT resource_id FROM c1_resources WHERE resource_type_id = "
                      f"'{resource_type}' AND {where} ORDER BY 1 LIMIT 1")


def rows(path: Path, table: str, where: str = "true") -> set[tuple[object, ...]]:
    # A user read alone (GET /users/{id}) has LastLogin and CreatedDate, which the user
    # list lacks: compared apart.
    columns = ("* EXCLUDE (user_last_login, user_created_at)" if table == "c1_resources"
               else "*")
    with store.opened(path, read_only=True) as con:
        found = con.execute(f"SELECT {columns} FROM {table} WHERE {where}").fetchall()
    return {tuple(tuple(v) if isinstance(v, list) else v for v in row) for row in found}


def pick(path: Path, sql: str) -> str:
    with store.opened(path, read_only=True) as con:
        return str(con.execute(sql).fetchone()[0])  # type: ignore[index]


def test_targets_get_exactly_the_full_syncs_rows(tiny_sandbox: LitmosSandbox,
                                                 tmp_path: Path, full: Path) -> None:
    # A course with enrollees, a sub-team (its parent is kept) with members, a user.
    course, user = first(full, "course"), first(full, "user")
    team = first(full, "team", "parent_resource_id IS NOT NULL")
    wanted = targeted_sync(task(f"course:{course}", f"team:{team}", f"user:{user}",
                                f"course:{course}", "course:NoSuchCourse", "module:m1"))
    assert wanted.targets == (("course", course), ("team", team), ("user", user),
                              ("course", "NoSuchCourse"))
    assert wanted.skipped == ("module:m1",)  # a module cannot be read alone
    part = tmp_path / "part.duckdb"
    model = partial_model(tiny_sandbox, part, wanted)
    assert model.missing == ("course:NoSuchCourse",)
    targets = (f"(resource_type_id, resource_id) IN (('course', '{course}'), "
               f"('team', '{team}'), ('user', '{user}'))")
    for table in ROWS:
        expected = rows(full, table, targets)
        assert expected, table
        assert rows(part, table) == expected, table
    assert rows(part, "c1_resource_types") == rows(full, "c1_resource_types")
    assert pick(part, "SELECT count(*) FROM c1_resources WHERE resource_type_id = 'user' "
                      "AND user_last_login IS NOT NULL AND user_created_at IS NOT NULL") == "1"
    # A GET per target and one page per list of each course and team (tiny lists).
    # 4 GETs (one unknown), course users and modules, the team's 3 role lists.
    assert model.requests == 4 + 2 + 3


def test_type_filter_and_skip_flags(tiny_sandbox: LitmosSandbox, tmp_path: Path,
                                    full: Path) -> None:
    course, user = first(full, "course"), first(full, "user")
    wanted = targeted_sync(task(f"course:{course}", f"user:{user}", types=("course",),
                                skip_grants=True))
    assert wanted.targets == (("course", course),)
    part = tmp_path / "part.duckdb"
    model = partial_model(tiny_sandbox, part, wanted)
    assert (model.resources, model.grants) == (1, 0)
    assert model.entitlements == 3  # assigned, completed, in_progress: still synced


def test_an_unsafe_target_id_is_refused() -> None:
    bad = v2.Resource(id=v2.ResourceId(resource_type="course", resource=".."))
    unsafe = baton.Task(id="t1", sync_full=baton.Task.SyncFullTask(
        targeted_sync_resources=[bad]))
    with pytest.raises(UnsafeIdError, match="course id"):
        targeted_sync(unsafe)


def test_the_partial_c1z_says_partial(tiny_sandbox: LitmosSandbox, tmp_path: Path,
                                      full: Path) -> None:
    part = tmp_path / "part.duckdb"
    course = first(full, "course")
    partial_model(tiny_sandbox, part, targeted_sync(task(f"course:{course}")))
    now = datetime.now(UTC)
    dest = tmp_path / "p.c1z"
    c1z_process.write(dest, part, sync_id=new_ksuid(), started_at=now, ended_at=now,
                      memory_limit="96MB", sync_type="partial")
    with c1z.read_c1z(dest) as contents:
        runs = [(r.sync_type, r.parent_sync_id) for r in contents.sync_runs]
        resources = [external for external, _ in contents.resources()]
    assert runs == [("partial", "")]
    assert resources == [f"course:{course}"]


def test_a_course_outside_the_course_filter_is_skipped() -> None:
    wanted = targeted_sync(task("course:c1", "course:c2", "user:u1")).within("course", ("c2",))
    assert wanted.targets == (("course", "c2"), ("user", "u1"))
    assert wanted.skipped == ("course:c1",)
    assert targeted_sync(task("course:c1")).within("course", ()).targets == (("course", "c1"),)
