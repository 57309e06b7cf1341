"""The sync assets through Dagster against the Litmos sandbox (real HTTP, real DuckDB)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb

from litmos_pipeline.c1.credentials import SECRET_PREFIX, generate_client_credentials
from litmos_pipeline.defs.publish import PublishResource, c1_sync_file
from litmos_pipeline.defs.resources import C1Resource
from litmos_pipeline.defs.risks import access_risks
from litmos_pipeline.defs.sync import litmos_sync, sync_assets
from litmos_sandbox.litmos import FaultRule, LitmosSandbox
from litmos_sandbox.litmos.tenant import Tenant
from tests.conftest import sync_resources


def expected_grants(tenant: Tenant, *, roles: bool = True) -> set[str]:
    """The oracle: C1 grant ids computed from the sandbox's own model, not our SQL."""
    out = set()
    for team in tenant.teams():
        # GET /teams/{id}/users lists active members only (the documented API).
        lists = {"member": tenant.team_members(team.id, active_only=True)}
        if roles:
            lists |= {"leader": tenant.team_leaders(team.id),
                      "admin": tenant.team_admins(team.id)}
        for role, users in lists.items():
            out |= {f"team:{team.id}:{role}:user:{u.id}" for u in users}
    for course in tenant.courses():
        for e in tenant.course_enrollments(course.id):
            state = "completed" if e.completed else "in_progress"
            out |= {f"course:{course.id}:assigned:user:{e.user_id}",
                    f"course:{course.id}:{state}:user:{e.user_id}"}
    for path in tenant.learning_paths():  # LITMOS_SYNC_LEARNING_PATHS is on by default
        out |= {f"learning_path:{path.id}:assigned:user:{u.id}"
                for u in tenant.learning_path_users(path.id)}
    return out


def grants_in(db: Path) -> set[str]:
    with duckdb.connect(str(db), read_only=True) as con:
        return {r[0] for r in con.execute("SELECT grant_id FROM c1_grants").fetchall()}


def checks(result: dg.ExecuteInProcessResult) -> dict[str, bool]:
    return {c.check_name: c.passed for c in result.get_asset_check_evaluations()}


def test_full_sync_matches_the_tenant(tiny_sandbox: LitmosSandbox, tmp_path: Path,
                                      instance: dg.DagsterInstance) -> None:
    db = tmp_path / "w.duckdb"
    result = dg.materialize(sync_assets, instance=instance,
                            resources=sync_resources(tiny_sandbox.base_url,
                                                     tiny_sandbox.api_key, db))
    assert result.success
    assert grants_in(db) == expected_grants(tiny_sandbox.tenant)
    assert all(checks(result).values()) and len(checks(result)) == 5
    extracted = {m.asset_key.to_user_string(): m.metadata
                 for m in result.asset_materializations_for_node("litmos_extract")}
    users = extracted["litmos_users"]
    assert users["rows"].value == 10 and users["api_pages"].value == 1
    pages = sum(meta["api_pages"].value for meta in extracted.values())
    # No retries here; the sign-ins of the last-login look-back are one page more.
    assert users["last_login_pages"].value == 1
    assert pages + 1 == users["extract_api_requests"].value
    with duckdb.connect(str(db), read_only=True) as con:
        parents = con.execute("SELECT count(*) FROM c1_resources WHERE resource_type_id='team' "
                              "AND parent_resource_id IS NOT NULL").fetchone()[0]
        assert parents == sum(1 for t in tiny_sandbox.tenant.teams() if t.parent >= 0) > 0
        by_type = dict(con.execute("SELECT resource_type_id, count(*) FROM c1_resources "
                                   "GROUP BY 1").fetchall())
    assert by_type["learning_path"] == len(tiny_sandbox.tenant.learning_paths())
    assert "module" not in by_type  # LITMOS_SYNC_MODULES is off by default


def test_modules_and_no_learning_paths(tiny_sandbox: LitmosSandbox, tmp_path: Path,
                                       instance: dg.DagsterInstance) -> None:
    db = tmp_path / "w.duckdb"
    result = dg.materialize(sync_assets, instance=instance,
                            resources=sync_resources(tiny_sandbox.base_url,
                                                     tiny_sandbox.api_key, db,
                                                     sync_modules="true",
                                                     sync_learning_paths="false"))
    assert result.success
    tenant = tiny_sandbox.tenant
    with duckdb.connect(str(db), read_only=True) as con:
        modules = set(con.execute("SELECT parent_resource_type_id, parent_resource_id, "
                                  "resource_id FROM c1_resources "
                                  "WHERE resource_type_id = 'module'").fetchall())
        paths = con.execute("SELECT count(*) FROM c1_resources "
                            "WHERE resource_type_id = 'learning_path'").fetchone()[0]
    assert modules == {("course", c.id, row[0]) for c in tenant.courses()
                       for row in tenant.course_modules(c.id)}
    assert paths == 0
    assert not any(g.startswith("learning_path:") for g in grants_in(db))


def test_second_sync_reports_access_changes(tiny_sandbox: LitmosSandbox, tmp_path: Path,
                                            instance: dg.DagsterInstance) -> None:
    db = tmp_path / "w.duckdb"
    resources = sync_resources(tiny_sandbox.base_url, tiny_sandbox.api_key, db)
    assert dg.materialize(sync_assets, instance=instance, resources=resources).success
    tenant = tiny_sandbox.tenant
    team = tenant.teams()[0]
    leaving = tenant.team_members(team.id)[-1]
    tenant.remove_team_member(team.id, leaving.id)
    result = dg.materialize(sync_assets, instance=instance, resources=resources)
    meta = result.asset_materializations_for_node("access_changes")[0].metadata
    assert meta["removed"].value >= 1
    with duckdb.connect(str(db), read_only=True) as con:
        removed = {r[0] for r in con.execute(
            "SELECT grant_id FROM access_changes WHERE change = 'removed'").fetchall()}
        syncs = con.execute("SELECT count(*) FROM sync_runs").fetchone()[0]
    assert f"team:{team.id}:member:user:{leaving.id}" in removed
    assert syncs == 2


def test_course_filter(tiny_sandbox: LitmosSandbox, tmp_path: Path,
                       instance: dg.DagsterInstance) -> None:
    db = tmp_path / "w.duckdb"
    course = tiny_sandbox.tenant.courses()[0]
    resources = sync_resources(tiny_sandbox.base_url, tiny_sandbox.api_key, db,
                               course_ids=course.id)
    result = dg.materialize(sync_assets, instance=instance, resources=resources)
    assert result.success
    assert checks(result)["configured_courses_found"] is True
    assert checks(result)["course_filter_respected"] is True
    courses = {g.split(":")[1] for g in grants_in(db) if g.startswith("course:")}
    assert courses == {course.id}


def full_sync(resources: dict[str, Any], out_dir: Path, instance: dg.DagsterInstance,
              c1: C1Resource | None = None) -> dg.ExecuteInProcessResult:
    """The `litmos_sync` job of defs/sync.py (c1_sync_file included), C1 not configured."""
    defs = dg.Definitions(
        assets=[*sync_assets, c1_sync_file, access_risks], jobs=[litmos_sync],
        resources={**resources, "c1": c1 or C1Resource(),
                   "publish": PublishResource(c1z_output_dir=str(out_dir))})
    return defs.resolve_job_def("litmos_sync").execute_in_process(instance=instance,
                                                                  raise_on_error=False)


def published(db: Path, out_dir: Path) -> tuple[Any, ...]:
    """What a sync publishes: the snapshot in the main file, and the c1z files on disk."""
    with duckdb.connect(str(db), read_only=True) as con:
        runs = con.execute("SELECT sync_id, run_id FROM sync_runs ORDER BY sync_id").fetchall()
    files = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in out_dir.iterdir()}
    return runs, grants_in(db), files


def step_failures(result: dg.ExecuteInProcessResult) -> dict[str, str]:
    return {e.step_key: e.event_specific_data.error.to_string()
            for e in result.all_events if e.is_step_failure}


def test_unknown_configured_course_fails_before_anything_is_published(
        tiny_sandbox: LitmosSandbox, tmp_path: Path, instance: dg.DagsterInstance) -> None:
    db, out_dir = tmp_path / "w.duckdb", tmp_path / "c1z"
    good = sync_resources(tiny_sandbox.base_url, tiny_sandbox.api_key, db)
    assert full_sync(good, out_dir, instance).success
    before = published(db, out_dir)
    assert "latest.c1z" in before[2] and len(before[0]) == 1 and before[1]
    course = tiny_sandbox.tenant.courses()[0]
    for course_ids, unknown in [("NoSuchCourse99", ["NoSuchCourse99"]),
                                (f"{course.id},abc", ["abc"])]:
        bad = sync_resources(tiny_sandbox.base_url, tiny_sandbox.api_key, db,
                             course_ids=course_ids)
        result = full_sync(bad, out_dir, instance)
        assert not result.success
        assert checks(result) == {"users_not_empty": True, "configured_courses_found": False}
        failures = step_failures(result)
        assert list(failures) == ["litmos_extract"]
        assert all(course_id in failures["litmos_extract"] for course_id in unknown)
        assert course.id not in failures["litmos_extract"].split("know:")[1]
        executed = {e.step_key for e in result.all_events if e.is_step_start}
        assert executed == {"litmos_extract"}  # no model build, swap or c1z write
        assert published(db, out_dir) == before
        assert list((tmp_path / "staging").glob("*")) == []  # the failure hook removed it


def test_blank_course_id_fails_the_sync_naming_the_setting(
        tiny_sandbox: LitmosSandbox, tmp_path: Path, instance: dg.DagsterInstance) -> None:
    db, out_dir = tmp_path / "w.duckdb", tmp_path / "c1z"
    good = sync_resources(tiny_sandbox.base_url, tiny_sandbox.api_key, db)
    assert full_sync(good, out_dir, instance).success
    before = published(db, out_dir)
    course = tiny_sandbox.tenant.courses()[0]
    bad = sync_resources(tiny_sandbox.base_url, tiny_sandbox.api_key, db,
                         course_ids=f"{course.id},,")
    result = full_sync(bad, out_dir, instance)
    assert not result.success
    failures = step_failures(result)
    assert list(failures) == ["litmos_extract"]
    assert "LITMOS_COURSE_IDS has a blank entry" in failures["litmos_extract"]
    assert published(db, out_dir) == before


def test_headless_sync_warns_of_a_malformed_c1_secret(
        tiny_sandbox: LitmosSandbox, tmp_path: Path, instance: dg.DagsterInstance) -> None:
    client_id, _ = generate_client_credentials("acme.conductor.one")
    c1 = C1Resource(client_id=client_id, client_secret=SECRET_PREFIX + "not-base64-secret!!")
    out_dir = tmp_path / "c1z"
    result = full_sync(sync_resources(tiny_sandbox.base_url, tiny_sandbox.api_key,
                                      tmp_path / "w.duckdb"), out_dir, instance, c1)
    assert result.success and (out_dir / "latest.c1z").exists()
    warnings = [e.user_message for e in instance.all_logs(result.run_id)
                if e.level == logging.WARNING and "C1_CLIENT_SECRET" in e.user_message]
    assert len(warnings) == 1
    assert "is malformed" in warnings[0] and "C1 tasks cannot be served" in warnings[0]
    assert "not-base64-secret" not in warnings[0]


def test_empty_user_list_blocks_the_full_job(tiny_sandbox: LitmosSandbox, tmp_path: Path,
                                            instance: dg.DagsterInstance, canned) -> None:
    db, out_dir = tmp_path / "w.duckdb", tmp_path / "c1z"
    good = sync_resources(tiny_sandbox.base_url, tiny_sandbox.api_key, db)
    assert full_sync(good, out_dir, instance).success
    before = published(db, out_dir)
    server = canned(lambda *_: (200, "application/json; charset=utf-8", b"[]"))
    result = full_sync(sync_resources(server.base_url, "k", db), out_dir, instance)
    assert not result.success
    assert checks(result)["users_not_empty"] is False
    assert list(step_failures(result)) == ["litmos_extract"]
    assert published(db, out_dir) == before
    assert list((tmp_path / "staging").glob("*")) == []  # a blocking check's failure too


def test_failed_sync_keeps_the_previous_snapshot(tiny_sandbox: LitmosSandbox, tmp_path: Path,
                                                 instance: dg.DagsterInstance) -> None:
    db = tmp_path / "w.duckdb"
    resources = sync_resources(tiny_sandbox.base_url, tiny_sandbox.api_key, db)
    assert dg.materialize(sync_assets, instance=instance, resources=resources).success
    before = grants_in(db)
    tenant = tiny_sandbox.tenant
    tenant.remove_team_member(tenant.teams()[0].id, tenant.team_members(tenant.teams()[0].id)[0].id)
    tiny_sandbox.add_fault(FaultRule("503", count=None, path_prefix="/courses/"))
    result = dg.materialize(sync_assets, instance=instance, resources=resources,
                            raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "gave up after 3 attempts" in failure.event_specific_data.error.to_string()
    assert grants_in(db) == before
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM sync_runs").fetchone()[0] == 1


def test_empty_tenant_is_never_published(tmp_path: Path, instance: dg.DagsterInstance,
                                         canned) -> None:
    def answer(method: str, path: str, query: dict[str, str]):
        return 200, "application/json; charset=utf-8", b"[]"

    server = canned(answer)
    db = tmp_path / "w.duckdb"
    result = dg.materialize(sync_assets, instance=instance, raise_on_error=False,
                            resources=sync_resources(server.base_url, "k", db))
    assert not result.success
    assert checks(result)["users_not_empty"] is False
    with duckdb.connect(str(db)) as con:
        assert con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = "
                           "'sync_runs'").fetchone()[0] == 0


def failed_extract(bodies: dict[str, str], tmp_path: Path, instance: dg.DagsterInstance,
                   canned) -> str:
    def answer(method: str, path: str, query: dict[str, str]):
        if path in bodies:
            ctype = "application/xml" if bodies[path].startswith("<") else "application/json"
            return 200, ctype, bodies[path].encode()
        return 200, "application/json", b"[]"

    server = canned(answer)
    result = dg.materialize(sync_assets, instance=instance, raise_on_error=False,
                            resources=sync_resources(server.base_url, "k",
                                                     tmp_path / "w.duckdb"))
    errors = {e.step_key: e.event_specific_data.error.to_string()
              for e in result.all_events if e.is_step_failure}
    assert list(errors) == ["litmos_extract"]
    assert not (tmp_path / "w.duckdb").exists()
    return errors["litmos_extract"]


def test_bad_input_fails_clearly(tmp_path: Path, instance: dg.DagsterInstance,
                                 canned) -> None:
    users = json.dumps([{"Id": "u1", "UserName": "a"}, {"UserName": "b"}])
    error = failed_extract({"/v1.svc/users": users}, tmp_path / "a", instance, canned)
    assert "record without Id in users (start=0) (record #2" in error
    error = failed_extract({"/v1.svc/teams": "<Teams><Team><Id>t1</Id>"}, tmp_path / "b",
                           instance, canned)
    assert "teams (start=0): malformed XML" in error


def test_definitions_load_with_jobs_schedule_and_sensors() -> None:
    from litmos_pipeline.definitions import defs

    repo = defs.get_repository_def()
    assert {j.name for j in repo.get_all_jobs()} >= {"litmos_sync", "litmos_provision"}
    schedule = repo.get_schedule_def("litmos_sync_schedule")
    assert schedule.cron_schedule == "0 3 * * *"
    assert {s.name for s in repo.sensor_defs} == {"c1_task_sensor", "c1_task_failure_sensor"}
    keys = {k.to_user_string() for k in repo.asset_graph.get_all_asset_keys()}
    assert {"litmos_users", "c1_grants", "access_changes", "c1_sync_file"} <= keys


def test_staging_checkpoints_once_at_close(tmp_path: Path) -> None:
    from litmos_pipeline.defs.resources import WarehouseResource

    warehouse = WarehouseResource(duckdb_path=str(tmp_path / "w.duckdb"))
    with warehouse.staging("run-1") as con:
        threshold, limit, disabled = con.execute(
            "SELECT current_setting('checkpoint_threshold'), current_setting('memory_limit'), "
            "current_setting('disabled_compression_methods')").fetchone()
        # Strings DuckDB would otherwise store with DICT_FSST.
        con.execute("CREATE TABLE t AS SELECT range AS i, 'user' || range || '@example.com' AS s"
                    " FROM range(100000)")
    assert (threshold, limit) == ("953.6 MiB", "30.5 MiB")  # 1GB and 32MB, as DuckDB says it
    assert {m.lower() for m in disabled.split(",")} == {"fsst", "dict_fsst"}
    with duckdb.connect(str(warehouse.staging_path("run-1")), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM t").fetchone()[0] == 100000
        methods = {row[0] for row in con.execute(
            "SELECT DISTINCT compression FROM pragma_storage_info('t') WHERE column_name = 's'"
        ).fetchall()}
    assert not methods & {"FSST", "DICT_FSST"}, methods


def test_last_login_from_sign_ins_and_kept_after(tiny_sandbox: LitmosSandbox, tmp_path: Path,
                                                 instance: dg.DagsterInstance) -> None:
    # The user list has no LastLogin: a sync reads who signed in within the look-back
    # (/org/users/logins, one page here), and a later sync that reads none keeps it.
    db = tmp_path / "w.duckdb"
    user = next(u for u in tiny_sandbox.tenant.users() if u.active)
    signed_in = tiny_sandbox.record_login(user.id)
    result = dg.materialize(sync_assets, instance=instance,
                            resources=sync_resources(tiny_sandbox.base_url,
                                                     tiny_sandbox.api_key, db))
    assert result.success
    meta = {m.asset_key.to_user_string(): m.metadata
            for m in result.asset_materializations_for_node("litmos_extract")}["litmos_users"]
    assert meta["last_login_pages"].value == 1 and meta["signed_in_within_look_back"].value >= 1
    assert meta["extract_request_floor"].value == meta["extract_api_requests"].value

    def last_login() -> str:
        with duckdb.connect(str(db), read_only=True) as con:
            row = con.execute("SELECT strftime(user_last_login, '%Y-%m-%dT%H:%M:%S') "
                              "FROM c1_resources WHERE resource_type_id = 'user' "
                              "AND resource_id = ?", [user.id]).fetchone()
        assert row is not None
        return str(row[0])

    assert last_login() == signed_in[:19]
    again = dg.materialize(sync_assets, instance=instance,
                           resources=sync_resources(tiny_sandbox.base_url,
                                                    tiny_sandbox.api_key, db,
                                                    last_login_days="0"))
    assert again.success
    meta = {m.asset_key.to_user_string(): m.metadata
            for m in again.asset_materializations_for_node("litmos_extract")}["litmos_users"]
    assert meta["last_login_pages"].value == 0
    assert meta["last_logins_kept_from_the_snapshot"].value >= 1
    assert last_login() == signed_in[:19]
