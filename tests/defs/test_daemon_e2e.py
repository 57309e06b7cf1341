"""End to end through a real dagster-daemon: C1 tasks -> sensor -> runs -> C1 and Litmos."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from litmos_pipeline.c1.c1z import read_c1z
from litmos_sandbox.c1 import C1Sandbox
from litmos_sandbox.litmos import FaultRule, LitmosSandbox
from tests.defs.daemon import daemon_world as start_world
from tests.defs.daemon import runs_for, wait_for

__all__ = ["daemon_world", "runs_for", "wait_for"]


@pytest.fixture
def daemon_world(tmp_path: Path) -> Iterator[tuple[LitmosSandbox, C1Sandbox, Path]]:
    # 50 ms a request: a tiny sync takes a few seconds, long enough to queue another.
    with start_world(tmp_path, latency_ms=50) as world:
        yield world.litmos, world.c1, world.home


def test_tasks_flow_through_the_daemon(daemon_world: tuple[LitmosSandbox, C1Sandbox, Path],
                                       tmp_path: Path) -> None:
    litmos, c1, home = daemon_world

    # Two full syncs requested at once: one sync runs at a time, so the second run waits
    # in the queue without heartbeats, its lease lapses and C1 offers the task again.
    sync_tasks = [c1.enqueue_sync_full(), c1.enqueue_sync_full()]
    for task_id in sync_tasks:
        finish = wait_for("a sync task to finish", lambda t=task_id: c1.finished(t), 180)
        assert finish.outcome == "success"
        uploads = c1.uploads(task_id)
        assert len(uploads) == 1 and uploads[0].row_counts["v1_grants"] > 0
        assert len(runs_for(home, task_id)) == 1  # exactly one run per task...
    assert c1.task(sync_tasks[1]).offers >= 2  # ...although the second was offered twice
    assert (tmp_path / "c1z" / "latest.c1z").exists()
    assert list((tmp_path / "staging").glob("*.duckdb")) == []  # published: staging cleared
    # Run output (compute logs) and the event log are private like the data files.
    logs = [p for p in (home / "storage").rglob("*") if p.is_file()]
    assert logs and all(p.stat().st_mode & 0o077 == 0 for p in logs)

    # An approved access request: provisioned in Litmos, reported to C1.
    tenant = litmos.tenant
    user = next(u for u in tenant.users() if u.active)
    course = next(c for c in tenant.courses() if tenant.enrollment(user.id, c.id) is None)
    grant_task = c1.enqueue_grant(f"course:{course.id}:assigned", f"user:{user.id}")
    finish = wait_for("the grant task to finish", lambda: c1.finished(grant_task), 120)
    assert finish.outcome == "success"
    assert tenant.enrollment(user.id, course.id) is not None
    [run] = runs_for(home, grant_task)
    assert run.tags["c1/entitlement"] == f"course:{course.id}:assigned"

    # C1 then asks for that course again (a targeted sync): a partial c1z of it alone,
    # read afresh, with the new grant; no full sync runs.
    before = litmos.stats()["total_requests"]
    targeted = c1.enqueue_sync_full(targets=(f"course:{course.id}",))
    finish = wait_for("the targeted sync to finish", lambda: c1.finished(targeted), 120)
    assert finish.outcome == "success"
    [run] = runs_for(home, targeted)
    assert run.job_name == "litmos_targeted_sync"
    assert litmos.stats()["total_requests"] - before == 2  # the course and its enrollees
    [upload] = c1.uploads(targeted)
    with read_c1z(upload.path) as contents:
        assert [(r.sync_type, r.parent_sync_id) for r in contents.sync_runs] == [("partial", "")]
        assert [e for e, _ in contents.resources()] == [f"course:{course.id}"]
        grants = {g for g, _ in contents.grants()}
    assert f"course:{course.id}:assigned:user:{user.id}" in grants
    assert len(grants) == 2 * len(tenant.course_enrollments(course.id))  # assigned, status

    # A sync whose run fails is finished with an error saying why (retryable).
    litmos.add_fault(FaultRule("503", count=None, path_prefix="/courses"))
    failing = c1.enqueue_sync_full()
    finish = wait_for("the failed sync to be reported", lambda: c1.finished(failing), 180)
    assert finish.outcome == "error" and not finish.non_retryable
    assert "failed" in finish.status_message
    assert c1.uploads(failing) == []
