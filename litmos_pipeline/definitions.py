"""The one Definitions object: assets, checks, jobs, schedules, sensors and resources."""

from __future__ import annotations

import dagster as dg

from litmos_pipeline.defs.resources import LitmosResource, WarehouseResource, env_or
from litmos_pipeline.defs.sync import sync_assets, sync_job, sync_schedule


def litmos_resource() -> LitmosResource:
    return LitmosResource(
        api_key=dg.EnvVar("LITMOS_API_KEY"),
        source=dg.EnvVar("LITMOS_SOURCE"),
        base_url=env_or("LITMOS_BASE_URL", "us"),
        course_ids=env_or("LITMOS_COURSE_IDS", ""),
        sync_team_roles=env_or("LITMOS_SYNC_TEAM_ROLES", "true"),
        requests_per_minute=env_or("LITMOS_REQUESTS_PER_MINUTE", "90"),
        provision_requests_per_minute=env_or("LITMOS_PROVISION_REQUESTS_PER_MINUTE", "10"),
        max_retries=env_or("LITMOS_MAX_RETRIES", "6"),
        timeout_s=env_or("LITMOS_TIMEOUT_S", "60"),
        send_messages=env_or("LITMOS_SEND_MESSAGES", "false"),
    )


def warehouse_resource() -> WarehouseResource:
    defaults = WarehouseResource()
    return WarehouseResource(
        duckdb_path=env_or("LITMOS_DUCKDB_PATH", defaults.duckdb_path),
        history_retention=env_or("LITMOS_HISTORY_RETENTION", defaults.history_retention),
        memory_limit=env_or("LITMOS_DUCKDB_MEMORY_LIMIT", defaults.memory_limit),
    )


litmos_sync = sync_job()

defs = dg.Definitions(
    assets=sync_assets,
    jobs=[litmos_sync],
    schedules=[sync_schedule(litmos_sync)],
    resources={"litmos": litmos_resource(), "warehouse": warehouse_resource()},
    # Steps of a run share one process: staging files are opened by one step at a time,
    # and a provisioning run starts without a subprocess per step.
    executor=dg.in_process_executor,
)
