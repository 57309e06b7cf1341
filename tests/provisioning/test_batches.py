"""A provisioning run serving a batch of C1 tasks: each task finished once, on its own."""

from __future__ import annotations

import base64
from pathlib import Path

import dagster as dg

from litmos_pipeline.c1.proto import baton_v1_pb2 as baton
from litmos_pipeline.defs.provisioning import provision_job
from litmos_pipeline.defs.publish import PublishResource, build_failure_sensor
from litmos_pipeline.taskloop.tags import batch_tags, is_finished, run_task_ids
from tests.provisioning.conftest import World


def _free_grants(world: World, n: int) -> list[baton.Task]:
    tenant = world.tenant
    pairs = [(u.id, c.id) for u in tenant.users() if u.active for c in tenant.courses()
             if tenant.enrollment(u.id, c.id) is None][:n]
    assert len(pairs) == n
    for user_id, course_id in pairs:
        world.c1.enqueue_grant(f"course:{course_id}:assigned", f"user:{user_id}")
    return [world.lease() for _ in pairs]


def _run_batch(world: World, tasks: list[baton.Task]) -> dg.ExecuteInProcessResult:
    served = [{"task_b64": base64.b64encode(t.SerializeToString()).decode(), "attempt": 0}
              for t in tasks]
    return provision_job.execute_in_process(
        run_config={"ops": {"provision_task": {"config": {"tasks": served}}}},
        tags=batch_tags(tasks), instance=world.instance, raise_on_error=False,
        resources=world.resources())


def _report_failure(world: World, result: dg.ExecuteInProcessResult, tmp_path: Path) -> None:
    sensor = build_failure_sensor([provision_job])
    [failure] = [e for e in result.all_events if e.event_type_value == "PIPELINE_FAILURE"]
    resources = {**world.resources(), "publish": PublishResource(
        c1z_output_dir=str(tmp_path / "c1z"))}
    with dg.build_run_status_sensor_context(
            sensor_name=sensor.name, dagster_event=failure, dagster_instance=world.instance,
            dagster_run=world.instance.get_run_by_id(result.run_id),
            resources=resources) as context:
        sensor(context.for_run_failure())


def test_a_batch_finishes_each_task_with_its_own_outcome(world: World, tmp_path: Path) -> None:
    good = _free_grants(world, 2)
    user = good[0].grant.principal.id.resource
    world.c1.enqueue_grant("course:NoSuchCourse99:assigned", f"user:{user}")
    bad = world.lease()
    result = _run_batch(world, [good[0], bad, good[1]])

    assert not result.success  # one task failed, so the run shows failed
    assert [world.c1.finished(t.id).outcome for t in good] == ["success", "success"]
    assert world.c1.finished(bad.id).outcome == "error"
    run = world.instance.get_run_by_id(result.run_id)
    assert run_task_ids(run.tags) == sorted(t.id for t in (*good, bad))
    assert all(is_finished(run.tags, t.id) for t in (*good, bad))
    granted = world.query("SELECT count(*) FROM c1_grants WHERE grant_id IN (?, ?)",
                          [f"{t.grant.entitlement.id}:user:{t.grant.principal.id.resource}"
                           for t in good])
    assert granted == [(2,)]

    finishes = len(world.c1.finishes)
    _report_failure(world, result, tmp_path)
    assert len(world.c1.finishes) == finishes  # nothing left for the failure sensor


def test_a_batch_cut_short_is_finished_task_by_task(world: World, tmp_path: Path) -> None:
    tasks = _free_grants(world, 3)
    writes = len(world.litmos.stats()["writes"])
    world.c1.fail_next_calls("FinishTask", count=3)  # the first task's FinishTask, for good
    result = _run_batch(world, tasks)
    assert not result.success
    assert len(world.litmos.stats()["writes"]) == writes + 1  # only the first was served
    assert all(world.c1.finished(t.id) is None for t in tasks)

    _report_failure(world, result, tmp_path)
    # The first task's change is done: a success; the two never started: retryable errors,
    # so C1 offers them again and a new run serves them.
    outcomes = [world.c1.finished(t.id) for t in tasks]
    assert [f.outcome for f in outcomes] == ["success", "error", "error"]
    assert not any(f.non_retryable for f in outcomes[1:])
    assert len(world.litmos.stats()["writes"]) == writes + 1
