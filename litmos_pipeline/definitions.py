"""The one Definitions object: assets, checks, jobs, schedules, sensors and resources."""

import logging

import dagster as dg

from litmos_pipeline import files
from litmos_pipeline import settings as cfg
from litmos_pipeline.defs.provisioning import ProvisionResource, provision_job
from litmos_pipeline.defs.publish import (
    PublishResource,
    build_failure_sensor,
    build_task_sensor,
    c1_sync_file,
)
from litmos_pipeline.defs.resources import (
    C1Resource,
    LitmosResource,
    WarehouseResource,
    env_or,
)
from litmos_pipeline.defs.sync import sync_assets, sync_job, sync_schedule
from litmos_pipeline.taskloop.loop import TaskLoop


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


log = logging.getLogger(__name__)


def c1_resource() -> C1Resource:
    # Either credential alone is kept, so that C1Resource.problem() can say the other is
    # missing; C1 counts as configured only with both.
    return C1Resource(
        client_id=env_or("C1_CLIENT_ID", ""),
        client_secret=env_or("C1_CLIENT_SECRET", ""),
        api_url=env_or("C1_API_URL", ""),
        grpc_target=env_or("C1_GRPC_TARGET", ""),
        host_id=env_or("C1_HOST_ID", ""),
    )


def warn_if_c1_malformed(c1: C1Resource) -> None:
    """One warning line at load, not a traceback on every sensor tick."""
    problem = c1.problem()
    if problem:
        log.warning("%s; C1 tasks cannot be served until it is fixed (syncs still run and "
                    "write c1z files)", problem)


def publish_resource() -> PublishResource:
    defaults = PublishResource()
    return PublishResource(
        c1z_output_dir=env_or("C1Z_OUTPUT_DIR", defaults.c1z_output_dir),
        keep_files=env_or("C1Z_KEEP_FILES", defaults.keep_files),
    )


litmos_sync = sync_job(extra_selection=dg.AssetSelection.assets(c1_sync_file))
publish_settings = cfg.load(cfg.PublishSettings)
# Every process that loads these definitions (code servers, run workers, the UI) creates
# files with LITMOS_FILE_MODE: Dagster's compute logs and event log carry run output
# and previews of personal data too, and are created before any file of ours.
files.protect_process()
c1 = c1_resource()
warn_if_c1_malformed(c1)
task_loop = TaskLoop()  # the two sensors share its token cache; Hello once per host

defs = dg.Definitions(
    assets=[*sync_assets, c1_sync_file],
    jobs=[litmos_sync, provision_job],
    schedules=[sync_schedule(litmos_sync)],
    sensors=[
        build_task_sensor(litmos_sync, provision_job, publish_settings.sensor_interval_s,
                          running=cfg.c1_configured(), loop=task_loop),
        build_failure_sensor([litmos_sync, provision_job], loop=task_loop),
    ],
    resources={
        "litmos": litmos_resource(),
        "warehouse": warehouse_resource(),
        "c1": c1,
        "publish": publish_resource(),
        "provision": ProvisionResource(dry_run=env_or("LITMOS_PROVISION_DRY_RUN", "false")),
    },
    # Steps of a run share one process: staging files are opened by one step at a time,
    # the C1 task heartbeat lives as long as the run, and a provisioning run starts fast.
    executor=dg.in_process_executor,
)
