"""The mass-revocation guard at the swap: figures in SQL, nothing changed when it holds."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from litmos_pipeline import settings as cfg
from litmos_pipeline.c1.ksuid import new_ksuid
from litmos_pipeline.warehouse import guard, snapshot, store
from tests.warehouse.test_transform import stage

T0 = datetime(2026, 1, 1)


def staged(tmp_path: Path, name: str, *remove: str) -> Path:
    """The golden stage (2 users, 8 grants), built, less what the `remove` statements take."""
    path = tmp_path / f"{name}.duckdb"
    stage(path)
    with store.opened(path) as con:
        snapshot.build_model(con, sync_team_roles=True)
        # The figures below are about the team and course grants: the golden stage's one
        # learning-path grant is left out.
        con.execute("DELETE FROM c1_grants WHERE resource_type_id = 'learning_path'")
        for statement in remove:
            con.execute(statement)
    return path


def swap(tmp_path: Path, stage_path: Path, limits: guard.RemovalLimits | None = None,
         ) -> snapshot.SwapResult:
    with store.opened(tmp_path / "main.duckdb") as main:
        store.run_sql(main, "main.sql", "schema")
        # Without limits: the declared defaults, as the existing callers of swap get them.
        kwargs: dict[str, Any] = {"limits": limits} if limits else {}
        return snapshot.swap(main, stage_path, sync_id=new_ksuid(), run_id=stage_path.stem,
                             started_at=T0, retention=5, **kwargs)


def state(tmp_path: Path) -> tuple[Any, ...]:
    with store.opened(tmp_path / "main.duckdb", read_only=True) as con:
        return tuple(con.execute(q).fetchall() for q in (
            "SELECT * FROM sync_runs ORDER BY sync_id",
            "SELECT grant_id FROM c1_grants ORDER BY 1",
            "SELECT resource_id FROM c1_resources ORDER BY 1",
            "SELECT count(*) FROM grant_changes",
            "SELECT count(*) FROM access_changes"))


COURSES_GONE = "DELETE FROM c1_grants WHERE resource_type_id = 'course'"  # 4 of 8 grants
NO_USERS = ("DELETE FROM litmos_users", "DELETE FROM c1_grants",
            "DELETE FROM c1_resources WHERE resource_type_id = 'user'")


def test_first_sync_is_never_held(tmp_path: Path) -> None:
    result = swap(tmp_path, staged(tmp_path, "first"), guard.RemovalLimits(0.0, 0.0))
    assert result.guard.first_sync and not result.guard.held
    assert (result.guard.published_grants, result.guard.new_grants) == (0, 8)


def test_a_large_grant_removal_is_held_and_changes_nothing(tmp_path: Path) -> None:
    swap(tmp_path, staged(tmp_path, "first"))
    before = state(tmp_path)
    with pytest.raises(snapshot.MassRemovalRefused) as refused:
        swap(tmp_path, staged(tmp_path, "second", COURSES_GONE))
    assert ("it would remove 4 of the 8 published grants (50%; 4 in the new snapshot), "
            "more than LITMOS_GUARD_MAX_GRANT_REMOVAL=20%") in str(refused.value)
    figures = refused.value.figures
    assert (figures.removed_users, figures.held) == (0, True)
    assert state(tmp_path) == before


def test_accepted_removal_is_published(tmp_path: Path) -> None:
    swap(tmp_path, staged(tmp_path, "first"))
    result = swap(tmp_path, staged(tmp_path, "second", COURSES_GONE),
                  guard.RemovalLimits(accepted=True))
    assert result.removed == 4 and result.counts["c1_grants"] == 4
    assert result.guard.limits.accepted and result.guard.breaches() and not result.guard.held


def test_a_removal_within_the_limits_passes(tmp_path: Path) -> None:
    one = "DELETE FROM c1_grants WHERE grant_id = 'team:t1:admin:user:u1'"
    # 1 of 8 grants (12.5%) is within the default 20%, and exactly at a limit is within
    # it too ("more than" is held).
    for main, limits in [("default", guard.DEFAULT_LIMITS),
                         ("at_limit", guard.RemovalLimits(max_grant_removal=0.125))]:
        folder = tmp_path / main
        folder.mkdir()
        swap(folder, staged(folder, "first"), limits)
        result = swap(folder, staged(folder, "second", one), limits)
        assert (result.guard.removed_grants, result.guard.grant_share) == (1, 0.125)
        assert not result.guard.breaches() and not result.guard.held
        assert result.removed == 1 and result.counts["c1_grants"] == 7


def test_an_empty_user_answer_after_a_good_sync_is_held(tmp_path: Path) -> None:
    swap(tmp_path, staged(tmp_path, "first"))
    before = state(tmp_path)
    with pytest.raises(snapshot.MassRemovalRefused) as refused:
        swap(tmp_path, staged(tmp_path, "empty", *NO_USERS))
    message = str(refused.value)
    assert ("it would remove 2 of the 2 published users (100%; 0 in the new snapshot), "
            "more than LITMOS_GUARD_MAX_USER_REMOVAL=10%") in message
    assert "LITMOS_GUARD_MAX_GRANT_REMOVAL=20%" in message
    # Not even an operator's acceptance publishes an empty user list.
    with pytest.raises(snapshot.SnapshotRefused, match="no users"):
        swap(tmp_path, staged(tmp_path, "empty2", *NO_USERS),
             guard.RemovalLimits(accepted=True))
    assert state(tmp_path) == before


def test_guard_names_and_defaults_are_the_declared_settings() -> None:
    fields = {cfg.env_name(f): f for f in cfg.WarehouseSettings.model_fields.values()}
    defaults = cfg.load(cfg.WarehouseSettings, {})
    assert {guard.GRANT_SETTING, guard.USER_SETTING} <= set(fields)
    assert (defaults.max_grant_removal, defaults.max_user_removal) == (
        guard.RemovalLimits().max_grant_removal, guard.RemovalLimits().max_user_removal)


@pytest.mark.parametrize(("value", "share"), [
    ("0.2", 0.2), ("20%", 0.2), (" 12.5 % ", 0.125), ("0", 0.0), ("1", 1.0), ("100%", 1.0)])
def test_shares_are_fractions_or_percentages(value: str, share: float) -> None:
    s = cfg.load(cfg.WarehouseSettings, {guard.GRANT_SETTING: value})
    assert s.max_grant_removal == share


@pytest.mark.parametrize("value", ["20", "-0.1", "101%", "a lot", "nan", "%"])
def test_a_bad_share_is_named(value: str) -> None:
    with pytest.raises(cfg.SettingsError, match=guard.USER_SETTING):
        cfg.load(cfg.WarehouseSettings, {guard.USER_SETTING: value})
