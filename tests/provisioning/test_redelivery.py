"""A task served again (its run died, or C1 never heard its FinishTask) has one effect.

The task sensor gives a re-offered task a new run with `attempt` > 0; that run must not
write to Litmos a second time, and must still finish the task in C1.
"""

from __future__ import annotations

import base64
from pathlib import Path

import dagster as dg

from litmos_pipeline.c1.proto import baton_v1_pb2 as baton
from litmos_pipeline.c1.proto import connector_v2_pb2 as v2
from litmos_pipeline.defs.provisioning import provision_job
from litmos_pipeline.defs.publish import PublishResource, build_failure_sensor
from litmos_pipeline.taskloop.tags import recorded_work, task_tags
from tests.provisioning.conftest import World


def _run(world: World, task: baton.Task, attempt: int) -> dg.ExecuteInProcessResult:
    return provision_job.execute_in_process(
        run_config={"ops": {"provision_task": {"config": {"tasks": [{
            "task_b64": base64.b64encode(task.SerializeToString()).decode(),
            "attempt": attempt}]}}}},
        tags=task_tags(task), instance=world.instance, raise_on_error=False,
        resources=world.resources())


def _writes(world: World) -> int:
    """Litmos write requests (POST/PUT/DELETE) the sandbox has served."""
    return len(world.litmos.stats()["writes"])


def _course_grant(world: World) -> tuple[str, str, baton.Task]:
    tenant = world.tenant
    user = next(u for u in tenant.users() if u.active)
    course = next(c for c in tenant.courses() if tenant.enrollment(user.id, c.id) is None)
    task_id = world.c1.enqueue_grant(f"course:{course.id}:assigned", f"user:{user.id}")
    task = world.lease()
    assert task.id == task_id
    return user.id, course.id, task


def test_finish_task_failing_after_the_change_is_reported_by_the_next_run(
        world: World) -> None:
    user_id, course_id, task = _course_grant(world)
    world.c1.fail_next_calls("FinishTask", count=3)  # every attempt of the first run
    first = _run(world, task, attempt=0)
    assert not first.success and world.c1.finished(task.id) is None
    assert world.tenant.enrollment(user_id, course_id) is not None
    assert recorded_work(world.instance.get_run_by_id(first.run_id).tags, task.id)[0]
    writes = _writes(world)

    second = _run(world, task, attempt=1)
    assert second.success
    assert _writes(world) == writes  # no second Litmos write
    finishes = [f for f in world.c1.finishes if f.task_id == task.id and f.accepted]
    assert [f.outcome for f in finishes] == ["success"]


def test_a_change_made_by_a_run_that_died_is_not_made_twice(world: World) -> None:
    # The first run assigned the course and was killed before it recorded anything.
    user_id, course_id, task = _course_grant(world)
    world.tenant.assign_courses(user_id, [course_id])
    writes = _writes(world)

    result = _run(world, task, attempt=1)
    assert result.success
    assert _writes(world) == writes
    assert world.c1.finished(task.id).outcome == "success"
    audit = world.query("SELECT outcome, message FROM provisioning_audit WHERE task_id = ?",
                        [task.id])
    assert audit == [("succeeded", audit[0][1])] and "already so" in audit[0][1]


def test_a_first_delivery_writes_without_reading_first(world: World) -> None:
    _, _, task = _course_grant(world)
    writes = _writes(world)
    assert _run(world, task, attempt=0).success
    assert _writes(world) == writes + 1


def test_the_failure_sensor_reports_a_done_change_as_a_success(world: World,
                                                               tmp_path: Path) -> None:
    user_id, course_id, task = _course_grant(world)
    world.c1.fail_next_calls("FinishTask", count=3)
    first = _run(world, task, attempt=0)
    assert not first.success and world.c1.finished(task.id) is None
    writes = _writes(world)

    sensor = build_failure_sensor([provision_job])
    [failure] = [e for e in first.all_events if e.event_type_value == "PIPELINE_FAILURE"]
    run = world.instance.get_run_by_id(first.run_id)
    resources = {**world.resources(), "publish": PublishResource(
        c1z_output_dir=str(tmp_path / "c1z"))}
    with dg.build_run_status_sensor_context(
            sensor_name=sensor.name, dagster_event=failure, dagster_instance=world.instance,
            dagster_run=run, resources=resources) as context:
        sensor(context.for_run_failure())

    finish = world.c1.finished(task.id)
    assert finish is not None and finish.outcome == "success"  # not an error: it is done
    response = v2.GrantManagerServiceGrantResponse()
    assert finish.response.Unpack(response)
    assert [g.id for g in response.grants] == [f"course:{course_id}:assigned:user:{user_id}"]
    assert _writes(world) == writes
