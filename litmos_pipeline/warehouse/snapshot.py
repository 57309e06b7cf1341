"""Build C1's model in a sync's staging file, then swap it into the main file at once."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from litmos_pipeline import catalog
from litmos_pipeline.warehouse import refresh, store
from litmos_pipeline.warehouse.guard import DEFAULT_LIMITS, RemovalFigures, RemovalLimits

# The catalog names every raw table and its typed table (built by transform.sql's block
# of that name); the c1_* tables are the c1z writer's contract.
RAW_TABLES = catalog.RAW_TABLES
TYPED_TABLES = catalog.TYPED_TABLES
C1_TABLES = ("c1_resource_types", "c1_resources", "c1_entitlements", "c1_grants")


INTEGRITY_SQL = {
    "dangling_grants": """
        SELECT count(*) FROM c1_grants g
        WHERE g.entitlement_id NOT IN (SELECT entitlement_id FROM c1_entitlements)
           OR (g.principal_type_id, g.principal_id) NOT IN
              (SELECT (resource_type_id, resource_id) FROM c1_resources)""",
    "duplicate_resource_ids": "SELECT count(*) - count(DISTINCT external_id) FROM c1_resources",
    "duplicate_entitlement_ids":
        "SELECT count(*) - count(DISTINCT entitlement_id) FROM c1_entitlements",
    "duplicate_grant_ids": "SELECT count(*) - count(DISTINCT grant_id) FROM c1_grants",
}


NO_USERS = ("Litmos returned no users: refusing to replace the previous snapshot with an "
            "empty one (check LITMOS_API_KEY's account and LITMOS_BASE_URL)")


class SnapshotRefused(RuntimeError):
    """The staged sync is not fit to replace the current snapshot."""


class MassRemovalRefused(SnapshotRefused):
    """The mass-revocation guard held the staged sync back; nothing was changed."""

    def __init__(self, figures: RemovalFigures) -> None:
        super().__init__("mass-revocation guard: " + figures.describe()
                         + "; the published snapshot was left as it was")
        self.figures = figures


@dataclass(frozen=True)
class SwapResult:
    previous_sync_id: str | None
    added: int
    removed: int
    counts: dict[str, int]
    guard: RemovalFigures
    kind: str = "sync"  # or 'refresh'


def build_model(con: duckdb.DuckDBPyConnection, *, sync_team_roles: bool) -> dict[str, int]:
    """raw_* -> typed litmos_* -> c1_* inside the staging file; returns row counts.

    A refresh's staging file holds the typed tables already (refresh.apply built them
    from the snapshot and the delta): only C1's model is built, by the same SQL.
    """
    con.execute("SET VARIABLE sync_team_roles = ?", [sync_team_roles])
    stage_catalog(con)
    if refresh.is_refresh(con):
        for name in C1_TABLES:
            store.run_sql(con, "transform.sql", name)
        return {t: store.count(con, t) for t in (*TYPED_TABLES, *C1_TABLES)}
    missing = [t for t in RAW_TABLES if not store.table_exists(con, t)]
    if missing:
        raise SnapshotRefused(
            "this run staged no " + ", ".join(missing) + ": materialize the Litmos extract "
            "assets in the same run as the C1 model (the litmos_sync job does)")
    store.run_sql(con, "transform.sql", "login_tables")
    for name in (*TYPED_TABLES, *C1_TABLES):
        store.run_sql(con, "transform.sql", name)
    return {t: store.count(con, t) for t in (*TYPED_TABLES, *C1_TABLES)}


def stage_catalog(con: duckdb.DuckDBPyConnection,
                  types: tuple[catalog.ResourceType, ...] = catalog.CATALOG) -> None:
    """The catalog's resource types and entitlement slugs as two small tables, which the
    transform's c1_resource_types and c1_entitlements read: one declaration, not a copy
    in SQL. One statement each, the columns handed over as lists."""
    con.execute("""
        CREATE OR REPLACE TEMP TABLE catalog_resource_types AS
        SELECT unnest($ids::VARCHAR[]) AS resource_type_id,
               unnest($names::VARCHAR[]) AS display_name,
               unnest($traits::INTEGER[][]) AS traits,
               unnest($descriptions::VARCHAR[]) AS description""", {
        "ids": [rt.id for rt in types], "names": [rt.display_name for rt in types],
        "traits": [list(rt.traits) for rt in types],
        "descriptions": [rt.description for rt in types]})
    slugs = [(rt.id, e) for rt in types for e in rt.entitlements]
    con.execute("""
        CREATE OR REPLACE TEMP TABLE catalog_entitlements AS
        SELECT unnest($types::VARCHAR[]) AS resource_type_id,
               unnest($slugs::VARCHAR[]) AS slug, unnest($labels::VARCHAR[]) AS label,
               unnest($verbs::VARCHAR[]) AS verb, unnest($roles_only::BOOLEAN[]) AS roles_only,
               unnest($purposes::INTEGER[]) AS purpose,
               unnest($grantable_to::VARCHAR[][]) AS grantable_to""", {
        "types": [t for t, _ in slugs], "slugs": [e.slug for _, e in slugs],
        "labels": [e.label for _, e in slugs], "verbs": [e.verb for _, e in slugs],
        "roles_only": [e.team_roles_only for _, e in slugs],
        "purposes": [int(e.purpose) for _, e in slugs],
        "grantable_to": [list(e.grantable_to) for _, e in slugs]})


def duplicate_ids(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Records Litmos listed twice (e.g. across pages while the tenant changed).

    Each typed table keeps one row per key of its raw table, so the difference in row
    counts is the number of repeats (counting distinct keys again cost seconds).
    """
    if refresh.is_refresh(con):
        return {}  # a refresh keeps the newest record of each key (refresh.sql)
    return {raw: store.count(con, raw) - store.count(con, typed)
            for raw, typed in zip(RAW_TABLES, TYPED_TABLES, strict=True)}


def skipped_principals(con: duckdb.DuckDBPyConnection) -> int:
    rows = store.run_sql(con, "transform.sql", "skipped_principals")
    return int(rows[0][0]) if rows else 0


def swap(main: duckdb.DuckDBPyConnection, stage_path: Path, *, sync_id: str, run_id: str,
         started_at: datetime, retention: int,
         limits: RemovalLimits = DEFAULT_LIMITS) -> SwapResult:
    """Publish the staged snapshot. The caller holds `main`, so nobody sees the steps.

    Refused (MassRemovalRefused, nothing changed) when it would remove more of the
    published grants or users than `limits` allow; an empty user list is never published.
    """
    store.attach(main, stage_path, "stage")
    try:
        previous = main.execute(
            "SELECT sync_id FROM sync_runs ORDER BY finished_at DESC LIMIT 1").fetchone()
        # After a published sync the guard below says the same with its figures.
        if previous is None and store.count(main, "stage.litmos_users") == 0:
            raise SnapshotRefused(NO_USERS)
        params: dict[str, Any] = {
            "sync_id": sync_id, "run_id": run_id, "started_at": started_at,
            "now": store.now_utc(), "has_previous": previous is not None,
            "previous_sync_id": previous[0] if previous else None, "keep": retention,
            **snapshot_kind(main),
        }
        # One transaction may write one database: first the staged grants, then main.
        if store.run_sql(main, "main.sql", "provisioning_since", params)[0][0]:
            main.execute("BEGIN")
            store.run_sql(main, "main.sql", "overlay_provisioning", params)
            main.execute("COMMIT")
        main.execute("BEGIN")
        try:
            store.run_sql(main, "main.sql", "record_changes", params)
            figures = removal_figures(main, params, limits, first_sync=previous is None)
            if figures.held:
                raise MassRemovalRefused(figures)
            if figures.new_users == 0:
                raise SnapshotRefused(NO_USERS + "; not even an accepted mass removal "
                                      "publishes an empty user list")
            for name in ("replace_snapshot", "record_sync", "apply_retention",
                         "access_changes"):
                store.run_sql(main, "main.sql", name, params)
            main.execute("COMMIT")
        except Exception:
            main.execute("ROLLBACK")
            raise
        counts = {t: store.count(main, t) for t in C1_TABLES}
        added, removed = main.execute(
            "SELECT grants_added, grants_removed FROM sync_runs WHERE sync_id = ?",
            [sync_id]).fetchone() or (0, 0)
    finally:
        main.execute("DETACH stage")
    return SwapResult(previous[0] if previous else None, int(added), int(removed), counts,
                      figures, params["kind"])


def snapshot_kind(main: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """A refresh's staging file holds its delta window (refresh.py); a sync's does not."""
    if not refresh.is_refresh(main, "stage"):
        return {"kind": "sync", "source": "sync", "window_since": None, "window_to": None}
    since, to, base = main.execute(
        f"SELECT since, to_, previous_sync_id FROM stage.{refresh.WINDOW_TABLE}").fetchone()
    latest = main.execute(
        "SELECT sync_id FROM sync_runs ORDER BY finished_at DESC LIMIT 1").fetchone()
    if latest is None or latest[0] != base:
        # A sync (or another refresh) was published while this one read: publishing the
        # older snapshot plus the delta would undo it. The next refresh applies onto it.
        raise SnapshotRefused(
            f"refresh superseded: it applied Litmos' changes onto snapshot {base}, but "
            f"{latest[0] if latest else 'none'} was published meanwhile; nothing was "
            "changed, and the next refresh reads from the newer snapshot")
    return {"kind": "refresh", "source": "refresh", "window_since": since, "window_to": to}


def removal_figures(main: duckdb.DuckDBPyConnection, params: dict[str, Any],
                    limits: RemovalLimits, *, first_sync: bool) -> RemovalFigures:
    """The guard's figures, counted in SQL inside the swap (after `record_changes`)."""
    row = store.run_sql(main, "main.sql", "removal_guard", params)[0]
    return RemovalFigures(limits, first_sync, *(int(n) for n in row))


def courses_outside_filter(con: duckdb.DuckDBPyConnection, course_ids: list[str]) -> list[str]:
    if not course_ids:
        return []
    rows = con.execute(
        "SELECT resource_id FROM c1_resources WHERE resource_type_id = 'course' "
        "AND NOT list_contains(?, resource_id) ORDER BY 1", [list(course_ids)]).fetchall()
    return [r[0] for r in rows]


# -- entry points for a worker process (litmos_pipeline.workers) -------------------------


@dataclass(frozen=True)
class ModelReport:
    """What `build_and_check` found in the staging file: what the model's checks need."""

    counts: dict[str, int]
    integrity: dict[str, int]
    duplicates: dict[str, int]
    skipped_principals: int
    courses_outside_filter: list[str]
    previews: dict[str, str]
    grants_by_kind: dict[str, int] = field(default_factory=dict)  # e.g. team_member: 812


def build_and_check(stage_path: Path, memory_limit: str, sync_team_roles: bool,
                    course_ids: list[str]) -> ModelReport:
    """Build the model in the staging file and report what the checks need.

    Rows keep the extract's order (teams and courses were read in id order), so
    c1_grants comes out clustered by entitlement and the c1z writer's entitlement-range
    reads skip most of the table.
    """
    with store.opened(stage_path, memory_limit=memory_limit, preserve_order=True) as con:
        counts = build_model(con, sync_team_roles=sync_team_roles)
        return ModelReport(
            counts=counts,
            integrity={k: int(con.execute(q).fetchone()[0])  # type: ignore[index]
                       for k, q in INTEGRITY_SQL.items()},
            duplicates=duplicate_ids(con),
            skipped_principals=skipped_principals(con),
            courses_outside_filter=courses_outside_filter(con, course_ids),
            previews={t: store.preview_markdown(con, f"SELECT * FROM {t}")
                      for t in C1_TABLES},
            grants_by_kind=grants_by_kind(con),
        )


def grants_by_kind(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Grants per entitlement kind (`<type>_<slug>`): one GROUP BY on the entitlement id,
    whose last part is the slug (c1/ids.py), so no join over millions of grants."""
    rows = con.execute(
        "SELECT resource_type_id || '_' || regexp_extract(entitlement_id, ':([^:]+)$', 1), "
        "count(*) FROM c1_grants GROUP BY 1 ORDER BY 1").fetchall()
    return {str(kind): int(n) for kind, n in rows}


def publish(main_path: Path, stage_path: Path, memory_limit: str, sync_id: str, run_id: str,
            started_at: datetime, retention: int, lock_timeout_s: float = 300.0,
            limits: RemovalLimits = DEFAULT_LIMITS,
            ) -> SwapResult | RemovalFigures:
    """Swap the staged snapshot into the main file (see `swap`).

    A sync the guard held back answers its figures instead of a SwapResult: a worker
    raises errors again by type and message only, and the run shows the figures.
    """
    with store.opened_main(main_path, memory_limit=memory_limit,
                           lock_timeout_s=lock_timeout_s) as main:
        try:
            return swap(main, stage_path, sync_id=sync_id, run_id=run_id,
                        started_at=started_at, retention=retention, limits=limits)
        except MassRemovalRefused as held:
            return held.figures
