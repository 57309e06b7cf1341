"""The snapshot swap: history, access changes, and provisioning that lands mid-sync."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from litmos_pipeline.c1.ksuid import new_ksuid
from litmos_pipeline.warehouse import snapshot, store
from tests.warehouse.test_transform import stage

EXTRA = "team:t1:member:user:u2"


def publish(tmp_path: Path, main_path: Path, started_at: datetime, name: str) -> None:
    stage_path = tmp_path / f"{name}.duckdb"
    stage(stage_path)
    with store.opened(stage_path) as con:
        snapshot.build_model(con, sync_team_roles=True)
    with store.opened(main_path) as main:
        store.run_sql(main, "main.sql", "schema")
        snapshot.swap(main, stage_path, sync_id=new_ksuid(), run_id=name,
                      started_at=started_at, retention=5)


def provision(main_path: Path, change: str, at: datetime) -> None:
    with store.opened(main_path) as main:
        main.execute(
            "INSERT INTO grant_changes VALUES ((SELECT max(sync_id) FROM sync_runs), ?, ?, "
            "'provisioning', 'task-1', ?, 'team:t1:member', 'team', 't1', 'user', 'u2')",
            [at, change, EXTRA])
        if change == "added":
            main.execute("INSERT INTO c1_grants VALUES (?, 'team:t1:member', 'team', 't1', "
                         "'user', 'u2')", [EXTRA])


def grants(main_path: Path) -> set[str]:
    with store.opened(main_path, read_only=True) as con:
        return {r[0] for r in con.execute("SELECT grant_id FROM c1_grants").fetchall()}


def test_grant_provisioned_during_a_sync_survives_its_swap(tmp_path: Path) -> None:
    main_path = tmp_path / "main.duckdb"
    t0 = datetime(2026, 1, 1)
    publish(tmp_path, main_path, t0, "first")
    assert EXTRA not in grants(main_path)
    provision(main_path, "added", t0 + timedelta(hours=2))
    # A sync that started reading Litmos before the grant did not see it: keep the grant.
    publish(tmp_path, main_path, t0 + timedelta(hours=1), "second")
    assert EXTRA in grants(main_path)
    with store.opened(main_path, read_only=True) as con:
        removed = con.execute("SELECT count(*) FROM grant_changes WHERE grant_id = ? AND "
                              "source = 'sync'", [EXTRA]).fetchone()
    assert removed == (0,)
    # A sync that started after it, and still does not find it in Litmos, removes it.
    publish(tmp_path, main_path, t0 + timedelta(hours=3), "third")
    assert EXTRA not in grants(main_path)


def test_history_is_kept_as_changes_within_retention(tmp_path: Path) -> None:
    main_path = tmp_path / "main.duckdb"
    t0 = datetime(2026, 1, 1)
    for i in range(8):
        publish(tmp_path, main_path, t0 + timedelta(hours=i), f"s{i}")
        provision(main_path, "added", t0 + timedelta(hours=i, minutes=30))
    with store.opened(main_path, read_only=True) as con:
        syncs = con.execute("SELECT count(*) FROM sync_runs").fetchone()[0]
        kept = con.execute("SELECT count(DISTINCT sync_id) FROM grant_changes").fetchone()[0]
    assert syncs == 8
    assert kept <= 5  # retention=5 syncs of change history
