"""A refresh at the warehouse: delta records applied onto the golden snapshot, in SQL."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from litmos_pipeline.c1.ksuid import new_ksuid
from litmos_pipeline.catalog import delta
from litmos_pipeline.warehouse import guard, refresh, snapshot, store
from litmos_pipeline.warehouse.loader import BadIdError, RawLoader
from tests.warehouse.test_transform import stage

T0 = datetime(2026, 1, 1)
ROLES = ["member", "leader", "admin"]


def published(tmp_path: Path) -> Path:
    """The golden sync (2 users, 2 teams, 1 course), published at T0."""
    main_path, stage_path = tmp_path / "main.duckdb", tmp_path / "sync.duckdb"
    stage(stage_path)
    with store.opened(stage_path) as con:
        snapshot.build_model(con, sync_team_roles=True)
    with store.opened_main(main_path, memory_limit="96MB") as main:
        snapshot.swap(main, stage_path, sync_id=new_ksuid(), run_id="sync", started_at=T0,
                      retention=5)
    return main_path


def refreshed(tmp_path: Path, main_path: Path, records: dict[delta.DeltaList, list[Any]],
              now: datetime = T0 + timedelta(minutes=15)) -> snapshot.SwapResult:
    stage_path = tmp_path / "refresh.duckdb"
    with store.opened_main(main_path, memory_limit="96MB", lock_timeout_s=5) as main:
        window = refresh.plan_window(main, now, overlap_s=600)
    with store.opened(stage_path) as con:
        for spec in delta.DELTA_LISTS:
            loader = RawLoader(con, spec.records)
            loader.add(records.get(spec, []))
            loader.flush()
        refresh._save_window(con, window)
    refresh.apply(main_path, stage_path, "96MB", ROLES, [])
    with store.opened(stage_path) as con:
        snapshot.build_model(con, sync_team_roles=True)
    with store.opened_main(main_path, memory_limit="96MB") as main:
        return snapshot.swap(main, stage_path, sync_id=new_ksuid(), run_id="refresh",
                             started_at=now, retention=5,
                             limits=guard.RemovalLimits(1.0, 1.0))


def grants(main_path: Path) -> set[str]:
    with store.opened(main_path, read_only=True) as con:
        return {r[0] for r in con.execute("SELECT grant_id FROM c1_grants").fetchall()}


def test_window_starts_at_the_snapshot_less_the_overlap(tmp_path: Path) -> None:
    main_path = published(tmp_path)
    with store.opened_main(main_path, memory_limit="96MB") as main:
        window = refresh.plan_window(main, T0 + timedelta(hours=1), overlap_s=600)
    assert window.since == T0 - timedelta(minutes=10)
    assert window.to == T0 + timedelta(hours=1, minutes=1)
    assert window.params() == {"since": "2025-12-31 23:50:00", "to": "2026-01-01 01:01:00"}
    assert window.unreconciled_since == T0 and window.previous_kind == "sync"


def test_refuses_without_a_full_sync_and_when_one_is_due(tmp_path: Path) -> None:
    with store.opened_main(tmp_path / "empty.duckdb", memory_limit="96MB") as main:
        with pytest.raises(refresh.RefreshRefused, match="run litmos_sync first"):
            refresh.plan_window(main, T0, overlap_s=600)
    main_path = published(tmp_path)
    with store.opened_main(main_path, memory_limit="96MB") as main:
        with pytest.raises(refresh.RefreshRefused, match="a full sync is due"):
            refresh.plan_window(main, T0 + timedelta(days=7), overlap_s=600)


def test_changes_are_applied_and_recorded_as_a_refresh(tmp_path: Path) -> None:
    main_path = published(tmp_path)
    before = grants(main_path)
    result = refreshed(tmp_path, main_path, {
        # u1 leaves team t1 (reported as Active=false), joins t2 and leads it.
        delta.DELTA_TEAM_USERS: [
            {"Id": "u1", "TeamId": "t1", "Active": "false", "IsTeamLeader": "false",
             "IsTeamAdmin": "false"},
            {"Id": "u1", "TeamId": "t2", "Active": "true", "IsTeamLeader": "true",
             "IsTeamAdmin": "false"}],
        # u2's course assignment goes; u1 completes nothing new but is seen again.
        delta.DELTA_USER_COURSES: [{"Id": "c1", "UserId": "u2", "Active": "false"}],
        delta.DELTA_RESULTS: [{"Id": "c1", "UserId": "u1", "Active": "true",
                               "Completed": "false", "PercentageComplete": "50"}],
    })
    after = grants(main_path)
    assert before - after == {"team:t1:member:user:u1", "team:t1:admin:user:u1",
                              "course:c1:assigned:user:u2", "course:c1:in_progress:user:u2",
                              "course:c1:completed:user:u1"}
    assert after - before == {"team:t2:member:user:u1", "team:t2:leader:user:u1",
                              "course:c1:in_progress:user:u1"}
    assert (result.added, result.removed) == (3, 5)
    with store.opened(main_path, read_only=True) as con:
        kinds = con.execute("SELECT kind, window_since IS NOT NULL FROM sync_runs "
                            "ORDER BY finished_at").fetchall()
        sources = con.execute("SELECT DISTINCT source FROM access_changes").fetchall()
    assert kinds == [("sync", False), ("refresh", True)]
    assert sources == [("refresh",)]


def test_carried_learning_paths_keep_what_provisioning_did(tmp_path: Path) -> None:
    # No delta query is read for learning paths: a refresh carries the snapshot's, with
    # the provisioning since the full sync replayed on them (and nothing else changes).
    main_path = published(tmp_path)
    changes = [("added", "learning_path:lp1:assigned:user:u1", "u1"),
               ("removed", "learning_path:lp1:assigned:user:u2", "u2")]
    with store.opened_main(main_path, memory_limit="96MB") as main:
        for change, grant_id, user in changes:
            main.execute("INSERT INTO grant_changes VALUES (NULL, ?, ?, 'provisioning', 't', ?, "
                         "'learning_path:lp1:assigned', 'learning_path', 'lp1', 'user', ?)",
                         [T0 + timedelta(minutes=5), change, grant_id, user])
    before = grants(main_path)
    refreshed(tmp_path, main_path, {})
    after = grants(main_path)
    assert before ^ after == {"learning_path:lp1:assigned:user:u1",
                              "learning_path:lp1:assigned:user:u2"}
    assert "learning_path:lp1:assigned:user:u1" in after


def test_a_deactivated_user_leaves_the_member_lists(tmp_path: Path) -> None:
    main_path = published(tmp_path)
    refreshed(tmp_path, main_path, {delta.DELTA_USERS: [
        {"Id": "u1", "UserName": "ana", "Active": "false"}]})
    after = grants(main_path)
    # Litmos lists active team members only; roles and courses stay, as in a full sync.
    assert "team:t1:member:user:u1" not in after
    assert {"team:t1:admin:user:u1", "course:c1:assigned:user:u1"} <= after
    with store.opened(main_path, read_only=True) as con:
        row = con.execute("SELECT user_status, user_email FROM c1_resources "
                          "WHERE resource_id = 'u1'").fetchone()
    assert row == (2, "ana@x.io")  # an empty field keeps the snapshot's value


def test_a_delta_record_with_a_bad_id_is_refused() -> None:
    with pytest.raises(BadIdError, match="TeamId"):
        refresh.check_id_fields([{"Id": "u1", "TeamId": "../x"}], ("Id", "TeamId"), "p")
    refresh.check_id_fields([{"Id": "t1", "ParentTeamId": None}], ("Id", "ParentTeamId"), "p")


def test_a_refresh_overtaken_by_a_sync_is_not_published(tmp_path: Path) -> None:
    main_path = published(tmp_path)
    stage_path = tmp_path / "late.duckdb"
    with store.opened_main(main_path, memory_limit="96MB") as main:
        window = refresh.plan_window(main, T0 + timedelta(minutes=5), overlap_s=600)
    with store.opened(stage_path) as con:
        for spec in delta.DELTA_LISTS:
            RawLoader(con, spec.records).flush()
        refresh._save_window(con, window)
    refresh.apply(main_path, stage_path, "96MB", ROLES, [])
    with store.opened(stage_path) as con:
        snapshot.build_model(con, sync_team_roles=True)
    # A sync is published while the refresh was reading.
    second = tmp_path / "second.duckdb"
    stage(second)
    with store.opened(second) as con:
        snapshot.build_model(con, sync_team_roles=True)
    with store.opened_main(main_path, memory_limit="96MB") as main:
        snapshot.swap(main, second, sync_id=new_ksuid(), run_id="sync2",
                      started_at=T0 + timedelta(minutes=1), retention=5)
        with pytest.raises(snapshot.SnapshotRefused, match="refresh superseded"):
            snapshot.swap(main, stage_path, sync_id=new_ksuid(), run_id="late",
                          started_at=T0 + timedelta(minutes=5), retention=5)
        assert main.execute("SELECT count(*) FROM sync_runs").fetchone() == (2,)
