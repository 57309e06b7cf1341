"""A world for provisioning tests: both sandboxes, a synced warehouse, C1 wiring."""

from __future__ import annotations

import base64
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pytest

from litmos_pipeline.c1.client import BatonClient
from litmos_pipeline.c1.proto import baton_v1_pb2 as baton
from litmos_pipeline.defs.provisioning import ProvisionResource, provision_job
from litmos_pipeline.defs.resources import C1Resource
from litmos_pipeline.defs.sync import sync_assets
from litmos_pipeline.taskloop.tags import task_tags
from litmos_sandbox.c1 import C1Sandbox, FinishRecord
from litmos_sandbox.litmos import LitmosSandbox
from litmos_sandbox.litmos.tenant import Tenant, TenantSpec
from tests.conftest import sync_resources


@dataclass
class World:
    litmos: LitmosSandbox
    c1: C1Sandbox
    instance: dg.DagsterInstance
    db: Path
    client_id: str
    client_secret: str

    @property
    def tenant(self) -> Tenant:
        return self.litmos.tenant

    def resources(self, *, dry_run: bool = False, **litmos: str) -> dict[str, Any]:
        return {
            **sync_resources(self.litmos.base_url, self.litmos.api_key, self.db, **litmos),
            "c1": C1Resource(client_id=self.client_id, client_secret=self.client_secret,
                             api_url=self.c1.api_url, grpc_target=self.c1.grpc_target,
                             host_id="pytest-host"),
            "provision": ProvisionResource(dry_run="true" if dry_run else "false"),
        }

    def lease(self) -> baton.Task:
        """GetTask as the sensor does it."""
        c1 = self.resources()["c1"]
        with c1.client() as client:
            task, _, _ = client.get_task()
        assert task is not None
        return task

    def run_task(self, task_id: str, **options: Any) -> tuple[bool, FinishRecord | None]:
        task = self.lease()
        assert task.id == task_id
        result = provision_job.execute_in_process(
            run_config={"ops": {"provision_task": {"config": {"tasks": [{
                "task_b64": base64.b64encode(task.SerializeToString()).decode()}]}}}},
            tags=task_tags(task), instance=self.instance, raise_on_error=False,
            resources=self.resources(**options))
        return result.success, self.c1.finished(task_id)

    def query(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        with duckdb.connect(str(self.db), read_only=True) as con:
            return con.execute(sql, params or []).fetchall()

    def grant_ids(self, user_id: str) -> set[str]:
        return {r[0] for r in self.query(
            "SELECT grant_id FROM c1_grants WHERE principal_id = ?", [user_id])}


@pytest.fixture(scope="session")
def synced_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny tenant synced once: each world starts from a copy of this warehouse.

    The tenant is generated from its preset's seed, so every world's sandbox holds the
    same users, teams and courses as this one did; a sync per test cost 7-9 s of setup
    (its worker processes), some four minutes of the suite.
    """
    db = tmp_path_factory.mktemp("synced") / "w.duckdb"
    with LitmosSandbox(Tenant.generate(TenantSpec.preset("tiny")),
                       rate_limit_per_minute=None) as litmos, \
            dg.instance_for_test() as instance:
        resources = sync_resources(litmos.base_url, litmos.api_key, db)
        assert dg.materialize(sync_assets, instance=instance, resources=resources).success
    return db


@pytest.fixture
def world(tmp_path: Path, synced_warehouse: Path) -> Iterator[World]:
    tenant = Tenant.generate(TenantSpec.preset("tiny"))
    with LitmosSandbox(tenant, rate_limit_per_minute=None) as litmos, \
            C1Sandbox(lease_timeout_s=30) as c1, dg.instance_for_test() as instance:
        client_id, client_secret = c1.register_client("pytest")
        w = World(litmos, c1, instance, tmp_path / "w.duckdb", client_id, client_secret)
        shutil.copyfile(synced_warehouse, w.db)
        yield w


def baton_client(world: World) -> BatonClient:
    return world.resources()["c1"].connect()
