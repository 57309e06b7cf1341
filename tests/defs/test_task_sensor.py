"""c1_task_sensor through build_sensor_context with a real instance and the C1 sandbox."""

from __future__ import annotations

import base64
import threading
import time

import dagster as dg

from litmos_pipeline.defs.provisioning import provision_job
from litmos_pipeline.defs.publish import build_task_sensor
from litmos_pipeline.defs.resources import C1Resource
from litmos_pipeline.defs.sync import sync_job
from litmos_pipeline.taskloop.loop import TaskLoop
from litmos_pipeline.taskloop.requests import MAX_RUNS_PER_TICK, Limits
from litmos_sandbox.c1 import C1Sandbox


def resources(c1: C1Sandbox) -> dict[str, C1Resource]:
    client_id, secret = c1.register_client("sensor")
    return {"c1": C1Resource(client_id=client_id, client_secret=secret, api_url=c1.api_url,
                             grpc_target=c1.grpc_target, host_id="sensor-test")}


def tick(sensor: dg.SensorDefinition, instance: dg.DagsterInstance,
         res: dict[str, C1Resource]) -> list[dg.RunRequest]:
    with dg.build_sensor_context(instance=instance, resources=res) as context:
        return list(sensor.evaluate_tick(context).run_requests or [])


def test_tasks_become_run_requests_keyed_by_task_id() -> None:
    sensor = build_task_sensor(sync_job(), provision_job, interval_s=1, running=True)
    with C1Sandbox(lease_timeout_s=0.5) as c1, dg.instance_for_test() as instance:
        res = resources(c1)
        sync_id = c1.enqueue_sync_full()
        grant_id = c1.enqueue_grant("course:c1:assigned", "user:u1")
        requests = tick(sensor, instance, res)
        assert [(r.run_key, r.job_name) for r in requests] == [
            (sync_id, "litmos_sync"), (grant_id, "litmos_provision")]
        assert requests[0].tags["c1/task_kind"] == "sync_full"
        assert requests[0].tags["litmos/sync"] == "full"
        assert requests[1].tags["c1/entitlement"] == "course:c1:assigned"
        assert requests[1].tags["c1/principal"] == "u1"
        assert "task_b64" in requests[1].run_config["ops"]["provision_task"]["config"]["tasks"][0]
        assert len(c1.hellos) == 1  # capabilities announced once

        # Nothing new: the sensor skips. After the lease lapses C1 offers the same tasks
        # again, and the sensor asks for the same run keys (Dagster runs each key once).
        assert tick(sensor, instance, res) == []
        time.sleep(0.8)
        again = tick(sensor, instance, res)
        assert {r.run_key for r in again} == {sync_id, grant_id}


def test_unknown_task_kinds_are_finished_as_errors() -> None:
    from litmos_pipeline.c1.proto import baton_v1_pb2 as baton

    sensor = build_task_sensor(sync_job(), provision_job, interval_s=1, running=True)
    with C1Sandbox() as c1, dg.instance_for_test() as instance:
        res = resources(c1)
        task_id = c1.enqueue_task(baton.Task(
            create_resource=baton.Task.CreateResourceTask()))
        assert tick(sensor, instance, res) == []
        finish = c1.finished(task_id)
        assert finish is not None and finish.outcome == "error" and finish.non_retryable


def test_sensor_without_c1_settings_skips() -> None:
    sensor = build_task_sensor(sync_job(), provision_job, interval_s=1, running=False)
    with dg.instance_for_test() as instance:
        with dg.build_sensor_context(instance=instance,
                                     resources={"c1": C1Resource()}) as context:
            result = sensor.evaluate_tick(context)
        assert not result.run_requests
        assert "C1_CLIENT_ID" in (result.skip_message or "")


def test_a_tick_polls_until_a_task_arrives() -> None:
    sensor = build_task_sensor(sync_job(), provision_job, interval_s=5, running=True)
    with C1Sandbox(next_poll_s=0.2) as c1, dg.instance_for_test() as instance:
        res = resources(c1)
        timer = threading.Timer(1.0, c1.enqueue_sync_full)
        started = time.monotonic()
        timer.start()
        requests = tick(sensor, instance, res)
        took = time.monotonic() - started
        timer.join()
        assert len(requests) == 1  # offered 1 s into the tick, picked up by the same tick
        assert 0.9 < took < 3.0  # ...and the tick returned as soon as it had it
        started = time.monotonic()
        assert tick(sensor, instance, res) == []
        assert 3.5 < time.monotonic() - started < 5.5  # idle: polls for interval - 1 s


def test_malformed_secret_is_one_clear_error_then_a_skip_reason() -> None:
    sensor = build_task_sensor(sync_job(), provision_job, interval_s=1, running=True)
    bad = "secret-token:conductorone.com:v1:not-a-key"
    res = {"c1": C1Resource(client_id="x@t.conductor.one/pcc", client_secret=bad)}
    with dg.instance_for_test() as instance:
        with dg.build_sensor_context(instance=instance, resources=res) as context:
            first = sensor.evaluate_tick(context)
        assert "C1_CLIENT_SECRET" in (first.skip_message or "") and bad not in str(first)
        assert first.cursor and "C1_CLIENT_SECRET" in first.cursor  # reported: remembered
        with dg.build_sensor_context(instance=instance, resources=res,
                                     cursor=first.cursor) as context:
            second = sensor.evaluate_tick(context)
        assert second.skip_message == first.skip_message
        assert second.cursor == first.cursor  # unchanged: not logged again


def test_task_whose_run_failed_gets_a_new_run_key_when_offered_again() -> None:
    sensor = build_task_sensor(sync_job(), provision_job, interval_s=1, running=True)
    with C1Sandbox(lease_timeout_s=0.5) as c1, dg.instance_for_test() as instance:
        res = resources(c1)
        task_id = c1.enqueue_grant("course:c1:assigned", "user:u1")
        [request] = tick(sensor, instance, res)
        run = instance.create_run_for_job(provision_job, run_config=request.run_config,
                                          tags=request.tags)
        time.sleep(0.8)  # the lease lapses; C1 offers the task again
        assert tick(sensor, instance, res) == []  # its run has not ended: no second run
        instance.report_run_failed(run)
        time.sleep(0.8)
        [again] = tick(sensor, instance, res)
        assert again.run_key == f"{task_id}#1" and again.tags["c1/attempt"] == "1"
        assert again.run_config["ops"]["provision_task"]["config"]["tasks"][0]["attempt"] == 1


def test_a_task_whose_runs_keep_failing_is_given_back_to_c1() -> None:
    sensor = build_task_sensor(sync_job(), provision_job, interval_s=1, running=True)
    with C1Sandbox(lease_timeout_s=0.5) as c1, dg.instance_for_test() as instance:
        res = resources(c1)
        task_id = c1.enqueue_grant("course:c1:assigned", "user:u1")
        for attempt in range(3):
            [request] = tick(sensor, instance, res)
            assert request.tags["c1/attempt"] == str(attempt)
            instance.report_run_failed(instance.create_run_for_job(
                provision_job, run_config=request.run_config, tags=request.tags))
            time.sleep(0.8)  # the lease lapses; C1 offers the task again
        assert tick(sensor, instance, res) == []  # no fourth run...
        finish = c1.finished(task_id)  # ...the task is finished, retryable, saying why
        assert finish is not None and finish.outcome == "error" and not finish.non_retryable
        assert "3 times" in finish.status_message


def test_tasks_offered_again_while_queued_do_not_hide_newer_ones() -> None:
    # C1 offers the oldest pending task first, and a queued run's task comes back when its
    # lease lapses: those must not use up the tick, or newer tasks (a sync asked for behind
    # many approvals) are never reached.
    sensor = build_task_sensor(sync_job(), provision_job, interval_s=1, running=True)
    with C1Sandbox(lease_timeout_s=0.5) as c1, dg.instance_for_test() as instance:
        res = resources(c1)
        for n in range(MAX_RUNS_PER_TICK):
            c1.enqueue_grant("course:c1:assigned", f"user:u{n}")
        for request in tick(sensor, instance, res):
            instance.create_run_for_job(provision_job, run_config=request.run_config,
                                        tags=request.tags)  # queued, never started
        sync_task = c1.enqueue_sync_full()
        time.sleep(0.8)  # every grant's lease lapses; they are offered again, first
        assert [r.run_key for r in tick(sensor, instance, res)] == [sync_task]


def test_a_sync_behind_more_approvals_than_a_tick_takes_is_reached() -> None:
    # Small batches, so that a tick's share of approvals (20 runs x 2) is soon full.
    sensor = build_task_sensor(sync_job(), provision_job, interval_s=1, running=True,
                               loop=TaskLoop(Limits(tasks_per_run=2)))
    taken = MAX_RUNS_PER_TICK * 2
    with C1Sandbox(lease_timeout_s=30) as c1, dg.instance_for_test() as instance:
        res = resources(c1)
        grants = [c1.enqueue_grant("course:c1:assigned", f"user:u{n}")
                  for n in range(taken + 30)]
        sync_task = c1.enqueue_sync_full()
        requests = tick(sensor, instance, res)
        assert requests[0].run_key == sync_task
        assert requests[0].tags["dagster/priority"] == "10"  # it goes first in the queue
        served = [t for r in requests[1:] for t in run_tasks(r)]
        assert len(requests) == 1 + MAX_RUNS_PER_TICK and served == grants[:taken]
        # The approvals passed over are not lost: C1 offers them again once their leases
        # lapse (here: a later tick after 30 s).
        assert all(c1.task(t).offers == 1 for t in grants[taken:])


def run_tasks(request: dg.RunRequest) -> list[str]:
    """The task ids a provisioning run request serves, in order."""
    from litmos_pipeline.c1.proto import baton_v1_pb2 as baton

    config = request.run_config["ops"]["provision_task"]["config"]
    return [baton.Task.FromString(base64.b64decode(t["task_b64"])).id
            for t in config["tasks"]]


def test_a_deep_queue_is_served_in_batches_each_task_once() -> None:
    sensor = build_task_sensor(sync_job(), provision_job, interval_s=1, running=True)
    with C1Sandbox(lease_timeout_s=30) as c1, dg.instance_for_test() as instance:
        res = resources(c1)
        grants = [c1.enqueue_grant("course:c1:assigned", f"user:u{n}") for n in range(45)]
        requests = tick(sensor, instance, res)
        # 45 approvals over at most 20 runs: 3 a run, in C1's order.
        assert [len(run_tasks(r)) for r in requests] == [3] * 15
        assert [t for r in requests for t in run_tasks(r)] == grants
        first = requests[0]
        assert first.run_key == f"{grants[0]}+2"
        assert "c1/task_id" not in first.tags and first.tags["c1/tasks"] == "3"
        assert all(first.tags[f"c1/task.{t}"] == "1" for t in grants[:3])
        for request in requests:
            instance.create_run_for_job(provision_job, run_config=request.run_config,
                                        tags=request.tags)  # queued, never started
        # Re-offered while their runs wait: none is asked for twice.
        assert tick(sensor, instance, res) == []


def test_action_schemas_and_status_are_answered_in_the_tick() -> None:
    from litmos_pipeline.c1.proto import connector_v2_pb2 as v2

    sensor = build_task_sensor(sync_job(), provision_job, interval_s=1, running=True)
    with C1Sandbox() as c1, dg.instance_for_test() as instance:
        res = resources(c1)
        listed = c1.enqueue_action_list_schemas("user")
        described = c1.enqueue_action_get_schema("enable_user")
        unknown = c1.enqueue_action_get_schema("delete_user")
        status = c1.enqueue_action_status("2" * 27, "disable_user")
        invoke = c1.enqueue_action_invoke("disable_user", "u1")
        requests = tick(sensor, instance, res)
        # Only the invoke changes Litmos: it alone becomes a provisioning run.
        assert [(r.run_key, r.job_name) for r in requests] == [(invoke, "litmos_provision")]
        assert requests[0].tags["c1/action"] == "disable_user"

        schemas = v2.ListActionSchemasResponse()
        assert c1.finished(listed).response.Unpack(schemas)  # type: ignore[union-attr]
        assert {(s.name, tuple(s.action_type), s.resource_type_id) for s in schemas.schemas} == {
            ("disable_user", (v2.ACTION_TYPE_ACCOUNT_DISABLE,), "user"),
            ("enable_user", (v2.ACTION_TYPE_ACCOUNT_ENABLE,), "user")}
        schema = v2.GetActionSchemaResponse()
        assert c1.finished(described).response.Unpack(schema)  # type: ignore[union-attr]
        assert [a.name for a in schema.schema.arguments] == ["resource_id"]
        refused = c1.finished(unknown)
        assert refused is not None and refused.outcome == "error" and refused.non_retryable
        answer = v2.GetActionStatusResponse()
        assert c1.finished(status).response.Unpack(answer)  # type: ignore[union-attr]
        assert answer.status == v2.BATON_ACTION_STATUS_UNKNOWN
