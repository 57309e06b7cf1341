"""Thin Dagster resources: settings in, clients and connections out.

Fields are strings so the pydantic settings (aliases = environment variable names) do the
validation and errors name the variable, never its value.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import duckdb

from litmos_pipeline import settings as cfg
from litmos_pipeline.c1.ksuid import ksuid_from
from litmos_pipeline.litmos.client import LitmosClient
from litmos_pipeline.warehouse import store


def env_or(name: str, default: str) -> str | dg.EnvVar:
    """An EnvVar when the variable is set (shown as such in the UI), else the default."""
    return dg.EnvVar(name) if os.getenv(name) else default


class LitmosResource(dg.ConfigurableResource):
    """The Litmos REST API for one account (see the README's settings table)."""

    api_key: str
    source: str
    base_url: str = "us"
    course_ids: str = ""
    sync_team_roles: str = "true"
    requests_per_minute: str = "90"
    provision_requests_per_minute: str = "10"
    max_retries: str = "6"
    timeout_s: str = "60"
    send_messages: str = "false"

    def settings(self) -> cfg.LitmosSettings:
        return cfg.load(cfg.LitmosSettings, {
            "LITMOS_API_KEY": self.api_key, "LITMOS_SOURCE": self.source,
            "LITMOS_BASE_URL": self.base_url, "LITMOS_COURSE_IDS": self.course_ids,
            "LITMOS_SYNC_TEAM_ROLES": self.sync_team_roles,
            "LITMOS_REQUESTS_PER_MINUTE": self.requests_per_minute,
            "LITMOS_PROVISION_REQUESTS_PER_MINUTE": self.provision_requests_per_minute,
            "LITMOS_MAX_RETRIES": self.max_retries, "LITMOS_TIMEOUT_S": self.timeout_s,
            "LITMOS_SEND_MESSAGES": self.send_messages,
        })

    @contextmanager
    def client(
        self, log: logging.Logger | dg.DagsterLogManager | None = None, *,
        provisioning: bool = False,
    ) -> Iterator[LitmosClient]:
        """A paced client: the sync's budget, or the small one kept for provisioning."""
        s = self.settings()
        rate = s.provision_requests_per_minute if provisioning else s.requests_per_minute
        progress: Callable[[str], None] | None = log.info if log is not None else None
        client = LitmosClient(
            s.base_url, s.api_key.get_secret_value(), s.source,
            requests_per_minute=rate, burst=int(rate) if provisioning else 1,
            max_retries=s.max_retries, timeout_s=s.timeout_s, on_progress=progress,
        )
        try:
            yield client
        finally:
            client.close()


@dataclass(frozen=True)
class SyncIdentity:
    """One sync = one Dagster run; its KSUID is derived from the run, so every step agrees."""

    sync_id: str
    run_id: str
    started_at: datetime


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB warehouse file and the per-run staging files beside it."""

    duckdb_path: str = str(cfg.DEFAULT_DATA_DIR / "litmos.duckdb")
    history_retention: str = "30"
    memory_limit: str = "192MB"

    def settings(self) -> cfg.WarehouseSettings:
        return cfg.load(cfg.WarehouseSettings, {
            "LITMOS_DUCKDB_PATH": self.duckdb_path,
            "LITMOS_HISTORY_RETENTION": self.history_retention,
            "LITMOS_DUCKDB_MEMORY_LIMIT": self.memory_limit,
        })

    def staging_path(self, run_id: str) -> Path:
        return self.settings().staging_dir / f"{run_id}.duckdb"

    @contextmanager
    def main(self, lock_timeout_s: float = 300.0) -> Iterator[duckdb.DuckDBPyConnection]:
        """The main file, with the schema in place; hold it briefly."""
        s = self.settings()
        with store.opened(s.duckdb_path, memory_limit=s.memory_limit,
                          lock_timeout_s=lock_timeout_s) as con:
            store.run_sql(con, "main.sql", "schema")
            yield con

    @contextmanager
    def staging(self, run_id: str) -> Iterator[duckdb.DuckDBPyConnection]:
        s = self.settings()
        with store.opened(self.staging_path(run_id), memory_limit=s.memory_limit) as con:
            yield con


def sync_identity(context: dg.OpExecutionContext | dg.AssetExecutionContext) -> SyncIdentity:
    record = context.instance.get_run_record_by_id(context.run_id)
    started = record.create_timestamp if record else datetime.now(UTC)
    if started.tzinfo is None:
        started = started.replace(tzinfo=UTC)
    return SyncIdentity(
        sync_id=ksuid_from(started.timestamp(), uuid.UUID(context.run_id).bytes),
        run_id=context.run_id,
        started_at=started.astimezone(UTC).replace(tzinfo=None),
    )
