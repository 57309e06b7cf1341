"""The definitions Dagster loads, listed and held equal to a committed snapshot.

A cheap check that a restructuring of `defs/` keeps every asset key, check, job,
schedule, sensor and resource key (and what each is wired to). Loaded in a fresh
interpreter with no LITMOS_/C1_ variables: the sensor's default status and the
schedule's cron come from the environment, and the test process may have imported the
definitions under other variables already.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

# Printed by a child interpreter: everything below is derived from the loaded Definitions.
LIST_DEFS = r"""
import json
from litmos_pipeline.definitions import defs

repo = defs.get_repository_def()
graph = repo.asset_graph
jobs = [j for j in repo.get_all_jobs() if not j.name.startswith("__")]
print(json.dumps({
    "assets": {
        key.to_user_string(): {
            "group": graph.get(key).group_name,
            "kinds": sorted(graph.get(key).kinds),
            "deps": sorted(k.to_user_string() for k in graph.get(key).parent_keys),
        } for key in graph.get_all_asset_keys()},
    "checks": sorted(f"{k.asset_key.to_user_string()}:{k.name}"
                     for k in graph.asset_check_keys),
    "jobs": {
        job.name: {
            "executor": job.executor_def.name,
            "tags": dict(job.tags),
            "assets": sorted(k.to_user_string() for k in job.asset_layer.executable_asset_keys),
            "ops": sorted(job.graph.node_names()) if not job.asset_layer.executable_asset_keys
            else [],
        } for job in jobs},
    "schedules": {
        s.name: {"cron": s.cron_schedule, "timezone": s.execution_timezone,
                 "default_status": s.default_status.value, "job": s.job_name}
        for s in repo.schedule_defs},
    "sensors": {
        s.name: {"default_status": s.default_status.value,
                 "minimum_interval_seconds": s.minimum_interval_seconds,
                 "jobs": sorted(t.job_name for t in s.targets)}
        for s in repo.sensor_defs},
    "resources": {key: {"class": type(defs.resources[key]).__name__,
                        "fields": sorted(resource.config_schema.as_field().config_type.fields)}
                  for key, resource in repo.get_top_level_resources().items()},
}, sort_keys=True))
"""

EXTRACT = {"group": "litmos_extract", "kinds": ["duckdb", "litmos"], "deps": []}
MODEL = {"group": "c1_model", "kinds": ["duckdb"]}
ALL_ASSETS = ["access_changes", "access_risks", "c1_entitlements", "c1_grants", "c1_resource_types",
              "c1_resources", "c1_sync_file", "litmos_course_enrollments", "litmos_courses",
              "litmos_learning_path_users", "litmos_learning_paths", "litmos_modules",
              "litmos_team_members", "litmos_teams", "litmos_users"]

EXPECTED: dict[str, Any] = {
    "assets": {
        "litmos_users": EXTRACT,
        "litmos_teams": EXTRACT,
        "litmos_courses": EXTRACT,
        "litmos_modules": EXTRACT,  # staged empty unless LITMOS_SYNC_MODULES
        "litmos_learning_paths": EXTRACT,  # and these without LITMOS_SYNC_LEARNING_PATHS
        "litmos_learning_path_users": EXTRACT,
        "litmos_team_members": EXTRACT,
        "litmos_course_enrollments": EXTRACT,
        "litmos_delta": EXTRACT,
        "c1_resource_types": {**MODEL, "deps": []},
        # litmos_delta: a refresh's input (defs/refresh.py), built by the same c1_model.
        "c1_resources": {**MODEL, "deps": ["litmos_courses", "litmos_delta",
                                           "litmos_learning_paths", "litmos_modules",
                                           "litmos_teams", "litmos_users"]},
        "c1_entitlements": {**MODEL, "deps": ["litmos_courses", "litmos_delta",
                                              "litmos_learning_paths", "litmos_teams"]},
        "c1_grants": {**MODEL, "deps": ["litmos_course_enrollments", "litmos_delta",
                                        "litmos_learning_path_users", "litmos_team_members"]},
        "access_changes": {**MODEL, "deps": ["c1_grants"]},
        "access_risks": {**MODEL, "deps": ["access_changes", "c1_grants"]},
        "c1_sync_file": {"group": "c1_publish", "kinds": ["c1", "sqlite"],
                         "deps": ["c1_entitlements", "c1_grants", "c1_resource_types",
                                  "c1_resources"]},
    },
    "checks": [
        "access_risks:no_new_risks",
        "c1_grants:grants_reference_existing",
        "c1_grants:ids_unique",
        "c1_resources:course_filter_respected",
        "litmos_courses:configured_courses_found",
        "litmos_users:users_not_empty",
    ],
    "jobs": {
        "litmos_sync": {"executor": "in_process", "assets": ALL_ASSETS, "ops": [],
                        "tags": {"dagster/priority": "10", "litmos/sync": "full"}},
        "litmos_provision": {"executor": "in_process", "assets": [], "ops": ["provision_task"],
                             "tags": {"litmos/provision": "task"}},
        "litmos_targeted_sync": {"executor": "in_process", "assets": [],
                                 "ops": ["targeted_sync"], "tags": {"litmos/targeted": "task"}},
        "litmos_refresh": {"executor": "in_process", "ops": [],
                           "assets": ["access_changes", "access_risks", "c1_entitlements",
                                      "c1_grants",
                                      "c1_resource_types", "c1_resources", "c1_sync_file",
                                      "litmos_delta"],
                           "tags": {"dagster/priority": "5", "litmos/refresh": "delta"}},
        "litmos_answer_sync": {"executor": "in_process", "assets": ["c1_sync_file"],
                               "ops": [], "tags": {}},
    },
    "schedules": {
        "litmos_sync_schedule": {"cron": "0 3 * * *", "timezone": "UTC",
                                 "default_status": "RUNNING", "job": "litmos_sync"},
        "litmos_refresh_schedule": {"cron": "*/15 * * * *", "timezone": "UTC",
                                    "default_status": "RUNNING", "job": "litmos_refresh"},
    },
    "sensors": {
        # Stopped here because C1 is not configured in this environment.
        "c1_task_sensor": {"default_status": "STOPPED", "minimum_interval_seconds": 4,
                           "jobs": ["litmos_answer_sync", "litmos_provision", "litmos_sync",
                                    "litmos_targeted_sync"]},
        "c1_task_failure_sensor": {"default_status": "RUNNING",
                                   "minimum_interval_seconds": 5, "jobs": []},
    },
    "resources": {
        "c1": {"class": "C1Resource",
               "fields": ["api_url", "client_id", "client_secret", "grpc_target", "host_id"]},
        "litmos": {"class": "LitmosResource",
                   "fields": ["api_key", "base_url", "course_ids", "last_login_days", "max_retries",
                              "provision_requests_per_minute", "requests_per_minute",
                              "send_messages", "source", "sync_learning_paths", "sync_modules",
                              "sync_team_roles",
                              "timeout_s"]},
        "provision": {"class": "ProvisionResource", "fields": ["dry_run"]},
        # Fields are named as in the settings (they were keep_files, history_retention).
        "publish": {"class": "PublishResource",
                    "fields": ["c1z_output_dir", "keep_c1z_files"]},
        "warehouse": {"class": "WarehouseResource",
                      "fields": ["duckdb_path", "history_retention_syncs",
                                 "max_grant_removal", "max_user_removal", "memory_limit",
                                 "refresh_overlap_s", "risk_idle_days"]},
    },
}


def listed_definitions() -> dict[str, Any]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("C1_", "LITMOS_"))}
    out = subprocess.run([sys.executable, "-c", LIST_DEFS], env=clean, capture_output=True,
                         text=True, timeout=180, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_definitions_match_the_snapshot() -> None:
    listed = listed_definitions()
    for section, expected in EXPECTED.items():
        assert listed[section] == expected, section
    assert set(listed) == set(EXPECTED)
