"""A targeted (partial) sync: the named resources read afresh and modelled on their own.

Each target is read with one GET and its per-resource lists (a course's enrollees, a
team's members), into a small staging file of its own; the transform that builds a full
sync's model builds this one, so ids and fields are the same, and only the targets,
their entitlements and their grants are kept. The published snapshot is not touched: the
next sync or refresh reads these resources again.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from litmos_pipeline import catalog
from litmos_pipeline.c1.targeted import TargetedSync
from litmos_pipeline.litmos.client import LitmosClient
from litmos_pipeline.warehouse import extract, snapshot, store


@dataclass(frozen=True)
class TargetedModel:
    """What a targeted sync read and kept."""

    requests: int
    missing: tuple[str, ...]  # targets Litmos does not know (`course:c9`): left out
    resources: int
    entitlements: int
    grants: int


def build(stage_path: Path, client: LitmosClient, targeted: TargetedSync, *,
          roles: tuple[str, ...], options: tuple[str, ...], sync_team_roles: bool,
          memory_limit: str) -> TargetedModel:
    """Read the targets into `stage_path` and build their c1_* tables there."""
    before = client.stats.requests
    with store.opened(stage_path, memory_limit=memory_limit, preserve_order=True) as con:
        results = extract.load_all(con, client, roles=roles, options=options,
                                   by_id={t: targeted.ids(t) for t in targeted.type_ids})
        missing = tuple(f"{rt.id}:{rid}" for rt in catalog.CATALOG
                        for rid in results.get(rt.records.table, extract.LoadResult())
                        .missing_ids)
        con.execute("SET VARIABLE sync_team_roles = ?", [sync_team_roles])
        snapshot.stage_catalog(con)
        store.run_sql(con, "transform.sql", "login_tables")  # a user read alone has its own
        for name in snapshot.TYPED_TABLES:
            store.run_sql(con, "transform.sql", name)
        store.run_sql(con, "targeted.sql", "id_only_rows")
        for name in snapshot.C1_TABLES:
            store.run_sql(con, "transform.sql", name)
        [(resources, entitlements, grants)] = store.run_sql(con, "targeted.sql", "keep_targets", {
            "types": [t for t, _ in targeted.targets], "ids": [i for _, i in targeted.targets],
            "skip_entitlements": targeted.skip_entitlements_and_grants,
            "skip_grants": targeted.skip_grants or targeted.skip_entitlements_and_grants})
    return TargetedModel(client.stats.requests - before, missing, int(resources),
                         int(entitlements), int(grants))
