"""Course completed/in_progress are a status Litmos sets: EntitlementImmutable in the c1z."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import duckdb

from litmos_pipeline.c1.proto import connector_v2_pb2 as v2
from litmos_pipeline.warehouse.c1z_source import state_entitlements, write_c1z
from tests.c1.test_c1z import ENDED, GRANTS, STARTED, SYNC_ID, _sqlite_bytes, build_tables


def test_status_entitlements_are_the_catalogs_course_states() -> None:
    assert set(state_entitlements()) == {("course", "completed"), ("course", "in_progress")}


def test_only_status_entitlements_carry_the_annotation(tmp_path: Path) -> None:
    with duckdb.connect() as con:
        build_tables(con, GRANTS)
        summary = write_c1z(tmp_path / "sync.c1z", con, SYNC_ID, STARTED, ENDED)
    db = tmp_path / "sync.db"
    db.write_bytes(_sqlite_bytes(summary.path))
    with sqlite3.connect(db) as sq:
        rows = sq.execute("SELECT external_id, data FROM v1_entitlements").fetchall()
    marked = {}
    for external_id, data in rows:
        annotations = v2.Entitlement.FromString(data).annotations
        marked[external_id] = [a.type_url for a in annotations]
    states = {k for k in marked if k.endswith((":completed", ":in_progress"))}
    assert states, "the fixed tenant has course states"
    for external_id, urls in marked.items():
        expected = (["type.googleapis.com/c1.connector.v2.EntitlementImmutable"]
                    if external_id in states else [])
        assert urls == expected, external_id
