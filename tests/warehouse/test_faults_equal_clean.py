"""A sync under 30% Litmos faults (503, 504, dropped connections) publishes exactly the c1_*
tables of a clean sync of the same tenant (issue 12)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pytest

from litmos_pipeline.defs.sync import sync_assets
from litmos_pipeline.litmos import client as litmos_client
from litmos_sandbox.litmos import FaultConfig, LitmosSandbox
from litmos_sandbox.litmos.tenant import Tenant, TenantSpec
from tests.conftest import sync_resources

C1_TABLES = ("c1_resource_types", "c1_resources", "c1_entitlements", "c1_grants")


def c1_tables(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    with duckdb.connect(str(db), read_only=True) as con:
        return {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in C1_TABLES}


def sync_into(sandbox: LitmosSandbox, db: Path, instance: dg.DagsterInstance) -> None:
    # Retries enough for 30% faults (9 failures in a row: p = 0.3**9, 2e-5 a request).
    resources = sync_resources(sandbox.base_url, sandbox.api_key, db, max_retries="8")
    assert dg.materialize(sync_assets, instance=instance, resources=resources).success


def test_sync_under_30pct_faults_equals_a_clean_sync(tmp_path: Path, instance: dg.DagsterInstance,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # The client's own retry path, with its backoff waits 1/100 as long (the sandbox needs
    # no time to recover): seconds instead of minutes.
    backoff = litmos_client.LitmosClient._backoff
    monkeypatch.setattr(litmos_client.LitmosClient, "_backoff",
                        lambda self, attempt, retry_after: backoff(self, attempt,
                                                                   retry_after) / 100)
    # Enough rows for every list kind to page (two user pages) and many requests to fail.
    tenant = Tenant.generate(TenantSpec.preset("small", enrollments=3000))
    with LitmosSandbox(tenant, rate_limit_per_minute=None) as sandbox:
        sync_into(sandbox, tmp_path / "clean.duckdb", instance)
        sandbox.set_faults(FaultConfig(error_503_rate=0.1, error_504_rate=0.1, drop_rate=0.1,
                                       seed=30))
        sandbox.reset_stats()
        sync_into(sandbox, tmp_path / "faulty.duckdb", instance)
        injected = sandbox.stats()["injected_faults"]
    assert min(injected["503"], injected["504"], injected["drop"]) > 0
    clean, faulty = c1_tables(tmp_path / "clean.duckdb"), c1_tables(tmp_path / "faulty.duckdb")
    assert all(clean[t] for t in C1_TABLES)
    for table in C1_TABLES:
        assert faulty[table] == clean[table], table
