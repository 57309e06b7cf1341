"""The delta refresh through Dagster against the Litmos sandbox, and its proof: a refresh
of changed Litmos state equals a full sync of it (real HTTP, real DuckDB)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pytest

from litmos_pipeline.defs.refresh import REFRESH_TAGS, litmos_delta
from litmos_pipeline.defs.resources import WarehouseResource
from litmos_pipeline.defs.sync import sync_assets
from litmos_sandbox.litmos import LitmosSandbox
from litmos_sandbox.litmos.tenant import Tenant, TenantSpec
from tests.conftest import sync_resources

C1_TABLES = ("c1_resources", "c1_entitlements", "c1_grants")
MODEL_KEYS = ["c1_resource_types", "c1_resources", "c1_entitlements", "c1_grants",
              "access_changes"]
# Random changes of every kind the issue names, on the tiny tenant (10 users, 3 teams,
# 3 courses, 15 enrollments): a good share of its access.
CHANGES = {"deactivate_users": 2, "assign_courses": 4, "unassign_courses": 3,
           "complete_courses": 2, "add_team_members": 2, "remove_team_members": 2,
           "grant_team_roles": 2, "revoke_team_roles": 1}


def resources(sandbox: LitmosSandbox, db: Path) -> dict[str, Any]:
    res = sync_resources(sandbox.base_url, sandbox.api_key, db)
    # The proof changes a large share of a small tenant's grants: no guard here (tests/
    # warehouse/test_guard.py and defs/test_mass_removal.py hold the guard).
    res["warehouse"] = WarehouseResource(duckdb_path=str(db), max_grant_removal="1",
                                         max_user_removal="1")
    return res


def sync(sandbox: LitmosSandbox, db: Path, instance: dg.DagsterInstance) -> None:
    assert dg.materialize(sync_assets, instance=instance,
                          resources=resources(sandbox, db)).success


def refresh(sandbox: LitmosSandbox, db: Path, instance: dg.DagsterInstance,
            **kwargs: Any) -> dg.ExecuteInProcessResult:
    return dg.materialize([*sync_assets, litmos_delta], instance=instance,
                          selection=["litmos_delta", *MODEL_KEYS], tags=REFRESH_TAGS,
                          resources=resources(sandbox, db), **kwargs)


def tables(db: Path) -> dict[str, set[tuple[Any, ...]]]:
    with duckdb.connect(str(db), read_only=True) as con:
        return {t: {tuple(tuple(v) if isinstance(v, list) else v for v in row)
                    for row in con.execute(f"SELECT * FROM {t}").fetchall()}
                for t in C1_TABLES}


def delta_meta(result: dg.ExecuteInProcessResult) -> dict[str, Any]:
    [materialization] = result.asset_materializations_for_node("litmos_delta")
    return {k: v.value for k, v in materialization.metadata.items()}


def test_refresh_refuses_before_any_full_sync(tiny_sandbox: LitmosSandbox, tmp_path: Path,
                                              instance: dg.DagsterInstance) -> None:
    result = refresh(tiny_sandbox, tmp_path / "w.duckdb", instance, raise_on_error=False)
    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    message = failure.step_failure_data.error.message
    assert "no full sync has been published yet" in message and "litmos_sync" in message
    assert tiny_sandbox.stats()["total_requests"] == 0  # refused before any Litmos request


@pytest.mark.parametrize("mode", ["active_false", "silent"])
def test_refresh_of_changed_state_equals_a_full_sync(tmp_path: Path, mode: str) -> None:
    tenant = Tenant.generate(TenantSpec.preset("tiny"))
    with LitmosSandbox(tenant, rate_limit_per_minute=None, delta_removals=mode) as sandbox, \
            dg.instance_for_test() as instance:
        refreshed, fresh = tmp_path / "refreshed.duckdb", tmp_path / "fresh.duckdb"
        sync(sandbox, refreshed, instance)
        before = tables(refreshed)["c1_grants"]
        done = tenant.mutate(seed=7, **CHANGES)
        assert all(done["counts"].get(kind) for kind in CHANGES), done["counts"]
        requests = sandbox.stats()["total_requests"]
        result = refresh(sandbox, refreshed, instance)
        assert result.success
        meta = delta_meta(result)
        # One page for each of the 7 delta queries (sign-ins included).
        assert sandbox.stats()["total_requests"] - requests == meta["requests"] <= 7
        sync(sandbox, fresh, instance)
        got, want = tables(refreshed), tables(fresh)
        assert got["c1_resources"] == want["c1_resources"]
        assert got["c1_entitlements"] == want["c1_entitlements"]
        extra = got["c1_grants"] - want["c1_grants"]
        assert got["c1_grants"] - extra == want["c1_grants"]  # nothing missing, ever
        assert want["c1_grants"] != before  # the changes changed access
        if mode == "active_false":
            assert extra == set()  # removals reported: the refresh is the full sync
        else:
            # Unreported removals stay until the next full sync, and only they.
            removed = {(g[0]) for g in before - want["c1_grants"]}
            assert extra and {g[0] for g in extra} <= removed
            sync(sandbox, refreshed, instance)
            assert tables(refreshed) == tables(fresh)
        with duckdb.connect(str(refreshed), read_only=True) as con:
            kinds = con.execute("SELECT kind FROM sync_runs ORDER BY finished_at").fetchall()
        assert kinds[:2] == [("sync",), ("refresh",)]


# -- the schedule and the answer to C1's sync tasks, through a real daemon ----------------


def test_schedule_waits_for_a_full_sync_and_for_a_queued_refresh() -> None:
    from litmos_pipeline.defs.refresh import litmos_refresh, refresh_schedule

    schedule = refresh_schedule(litmos_refresh)
    with dg.instance_for_test() as instance:
        def evaluate() -> Any:
            with dg.build_schedule_context(instance=instance) as context:
                return schedule.evaluate_tick(context)

        assert "no full sync has succeeded yet" in (evaluate().skip_message or "")
        instance.add_run(dg.DagsterRun(job_name="litmos_sync", run_id=make_run_id(),
                                       status=dg.DagsterRunStatus.SUCCESS))
        assert len(evaluate().run_requests or []) == 1
        queued = make_run_id()
        instance.add_run(dg.DagsterRun(job_name="litmos_refresh", run_id=queued,
                                       status=dg.DagsterRunStatus.STARTED))
        assert queued in (evaluate().skip_message or "")


def make_run_id() -> str:
    import uuid

    return str(uuid.uuid4())


def test_sync_tasks_are_answered_with_a_young_snapshot(tmp_path: Path) -> None:
    """A full sync, a refresh launched as an operator would, then C1's next sync task is
    answered with the refreshed snapshot: no Litmos request, the answer said in FinishTask."""
    import subprocess
    import sys

    from tests.defs.daemon import daemon_world, runs_for, wait_for

    env = {"LITMOS_SNAPSHOT_MAX_AGE_S": "3600"}
    with daemon_world(tmp_path, latency_ms=0, env_extra=env) as world:
        c1, litmos = world.c1, world.litmos
        first = c1.enqueue_sync_full()
        assert wait_for("the full sync", lambda: c1.finished(first), 180).outcome == "success"
        [run] = runs_for(world.home, first)
        assert run.job_name == "litmos_sync"
        assert served_by(c1, first)["served_by"] == "full_sync"

        litmos.tenant.mutate(seed=3, unassign_courses=1, add_team_members=1)
        launch = subprocess.run(
            [str(Path(sys.executable).parent / "dagster"), "job", "launch", "-m",
             "litmos_pipeline.definitions", "-j", "litmos_refresh"],
            env=world.env,
            capture_output=True, text=True, timeout=120)
        assert launch.returncode == 0, launch.stderr[-2000:]
        wait_for("the refresh to succeed", lambda: refresh_runs(world.home), 180)

        requests = litmos.stats()["total_requests"]
        second = c1.enqueue_sync_full()
        assert wait_for("the answer", lambda: c1.finished(second), 120).outcome == "success"
        [answer] = runs_for(world.home, second)
        assert answer.job_name == "litmos_answer_sync"
        said = served_by(c1, second)
        assert said["served_by"] == "snapshot" and said["snapshot_kind"] == "refresh"
        assert said["sync_id"] != said["snapshot_sync_id"]  # a sync of its own to C1
        assert len(c1.uploads(second)) == 1
        assert litmos.stats()["total_requests"] == requests  # the key was spared


def refresh_runs(home: Path) -> list[dg.DagsterRun]:
    with dg.DagsterInstance.from_config(str(home)) as instance:
        return list(instance.get_runs(dg.RunsFilter(job_name="litmos_refresh",
                                                    statuses=[dg.DagsterRunStatus.SUCCESS])))


def served_by(c1: Any, task_id: str) -> dict[str, Any]:
    from google.protobuf import json_format, struct_pb2

    finish = c1.finished(task_id)
    [annotation] = finish.annotations
    struct = struct_pb2.Struct()
    assert annotation.Unpack(struct)
    return json_format.MessageToDict(struct)["litmos_pipeline"]


def test_materialize_all_is_a_sync_not_a_refresh(tiny_sandbox: LitmosSandbox, tmp_path: Path,
                                                 instance: dg.DagsterInstance) -> None:
    db = tmp_path / "w.duckdb"
    result = dg.materialize([*sync_assets, litmos_delta], instance=instance,
                            resources=resources(tiny_sandbox, db))
    assert result.success
    [delta_result] = result.asset_materializations_for_node("litmos_delta")
    assert "full sync" in delta_result.metadata["skipped"].value
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT kind FROM sync_runs").fetchall() == [("sync",)]
