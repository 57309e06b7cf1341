"""The crash and fault matrix (issue 12): every case against real sandboxes, one row each.

    python -m benchmarks.reliability                 # what `make reliability` runs
    python -m benchmarks.reliability --only kill     # the cases whose title holds "kill"

Each case gets a fresh world (benchmarks/reliability_world.py) seeded with a clean sync's
snapshot, injects its fault, lets the pipeline run unattended, and then checks what it
left: the main DuckDB file's c1_* tables against a clean sync of the same tenant (or, for
a failed run, against the snapshot it started from, with latest.c1z unchanged), C1's
tasks, uploads and FinishTask calls, and Litmos' writes. A case that does not recover is
reported as such. Every wait is bounded; all traffic stays on 127.0.0.1; all data goes
under .reliability/ (removed at the end unless --keep). The report is RELIABILITY.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks import reliability_world as rw
from benchmarks.sync import (
    REPO_ROOT,
    interrupt_on_signals,
    machine,
    run_failure,
    source_version,
)
from litmos_sandbox.litmos import FaultConfig, FaultRule

WORK_DIR = REPO_ROOT / ".reliability"
REPORT = REPO_ROOT / "RELIABILITY.md"
TASK_TIMEOUT_S = 180.0  # a C1 task from enqueued to finished
NEXT_SYNC_S = 120.0  # the next sync C1 asks for (a healthy one takes ~30 s here)
RUN_GONE_S = 60.0  # a killed run seen as failed (run monitoring) and its slot freed
SETTLE_S = 30.0  # runs still in flight once a case's task is done
CLEAN_FAILURE = "clean failure: previous snapshot and latest.c1z kept"
SAME = "same c1_* tables as a clean sync"


@dataclass
class Row:
    case: str
    group: str
    runs: int = 0
    outcome: str = ""
    recovered: str = ""
    grants_lost: int = 0
    grants_duplicated: int = 0
    litmos_dup: int = 0
    finish_dup: int = 0
    evidence: str = ""
    seconds: float = 0.0


@dataclass
class Ctx:
    work: Path
    preset: str
    clean_root: Path
    clean: rw.State
    grant_tasks: int
    grant_window_s: float


Case = Callable[[Ctx], Row]


# ---------------------------------------------------------------------------------------
# Shared verdicts
# ---------------------------------------------------------------------------------------


def fill_effects(row: Row, w: rw.World, final: rw.State, reference: rw.State) -> None:
    row.runs = len(rw.runs_of(w))  # headless runs are recorded in the same instance
    row.grants_lost = rw.grants_lost(final, reference)
    row.grants_duplicated = rw.grants_duplicated(final)
    row.litmos_dup = rw.duplicate_writes(w.litmos.stats()["writes"])
    row.finish_dup = rw.duplicate_finishes(w.c1)


def verdict(final: rw.State, before: rw.State, reference: rw.State,
            failed: bool = False) -> str:
    # A failed run is judged against where it started: the case's snapshot was a clean
    # sync's, so "unchanged" and "same as clean" coincide and unchanged must come first.
    unchanged = final.same_tables(before) and final.latest_sha256 == before.latest_sha256
    if failed and unchanged:
        return CLEAN_FAILURE
    if final.same_tables(reference):
        return SAME
    if unchanged:
        return CLEAN_FAILURE
    return f"WRONG snapshot: differs from a clean sync in {final.diff(reference)}"


def reference_state(w: rw.World) -> rw.State:
    """A clean sync of the world's tenant as it is now (faults off), in its own folders."""
    w.litmos.clear_faults()
    ref = rw.World(f"{w.name}-ref", w.root / "reference", w.litmos, w.c1, w.client_id,
                   w.client_secret, dict(w.env_extra))
    for sub in ("dagster_home", "data", "c1z"):
        (ref.root / sub).mkdir(parents=True, exist_ok=True)
    (ref.home / "dagster.yaml").write_bytes(rw.DAGSTER_YAML.read_bytes())
    if not ref.sync():
        raise RuntimeError(f"{w.name}: the reference sync failed (see {ref.root})")
    return ref.state()


def finish_text(w: rw.World, task_id: str) -> str:
    record = w.c1.finished(task_id)
    if record is None:
        return "never finished"
    kind = "retryable" if not record.non_retryable else "non-retryable"
    return "success" if record.outcome == "success" else f"error ({kind})"


def settle(w: rw.World) -> None:
    rw.wait_for(lambda: not rw.unfinished_runs(w), SETTLE_S, poll_s=1.0)


def next_sync(w: rw.World) -> tuple[str, str]:
    """C1 asks for the next sync (faults off): (its finish, its task id)."""
    w.litmos.clear_faults()
    task = w.c1.enqueue_sync_full()
    rw.wait_for(lambda: w.c1.finished(task), NEXT_SYNC_S, poll_s=1.0)
    settle(w)
    return finish_text(w, task), task


# ---------------------------------------------------------------------------------------
# Litmos faults: a headless sync under the fault, then (if it failed) the next one
# ---------------------------------------------------------------------------------------


def litmos_case(title: str, arm: Callable[[rw.World], None], env: dict[str, str] | None = None,
                tenant_changes: bool = False) -> Case:
    def run(ctx: Ctx) -> Row:
        row = Row(title, "Litmos")
        with rw.open_world(slug(title), ctx.work, ctx.preset, ctx.clean_root) as w:
            w.env_extra.update(env or {})
            before = w.state()
            arm(w)
            ok = w.sync()
            injected = {k: v for k, v in w.litmos.stats()["injected_faults"].items() if v}
            first = w.state()
            reference = reference_state(w) if tenant_changes else ctx.clean
            row.outcome = ("run succeeded; " if ok else "run failed; ") + verdict(
                first, before, reference, failed=not ok)
            row.recovered = "yes" if ok and first.same_tables(reference) else "no"
            if not ok and row.outcome.endswith(CLEAN_FAILURE):
                w.litmos.clear_faults()  # the API heals (key restored, no more errors)
                again = w.sync() and w.state().same_tables(reference)
                row.recovered = "yes, the next run" if again else "no: the next run failed"
            fill_effects(row, w, w.state(), reference)
            row.evidence = (f"faults injected {injected}; "
                            f"staging files left {len(list((w.data / 'staging').glob('*')))}")
            if not ok:
                row.evidence += f"; first run: {run_failure(w.root / 'sync-1.log')}"
        return row

    return run


def course_vanishes(w: rw.World) -> None:
    w.litmos.vanish_course_after_listing(w.litmos.tenant.courses()[3].id)


LITMOS_CASES: list[Case] = [
    litmos_case("10% of requests answered 503/504",
                lambda w: w.litmos.set_faults(FaultConfig.from_rates(fail_rate=0.10, seed=11))),
    litmos_case("30% of requests answered 503/504",
                lambda w: w.litmos.set_faults(FaultConfig.from_rates(fail_rate=0.30, seed=12))),
    litmos_case("dropped connections (10% of requests)",
                lambda w: w.litmos.set_faults(drop_rate=0.10, seed=13)),
    litmos_case("bodies cut half way (10% of requests)",
                lambda w: w.litmos.set_faults(rules=(FaultRule("cut", rate=0.10),), seed=14)),
    litmos_case("answers slower than the timeout (5%: 4 s, timeout 2 s)",
                lambda w: w.litmos.set_faults(slow_rate=0.05, slow_ms=4000, seed=15),
                env={"LITMOS_TIMEOUT_S": "2"}),
    litmos_case("a malformed page (GET /teams)",
                lambda w: w.litmos.add_fault(FaultRule("malformed", count=1,
                                                       path_prefix="/teams"))),
    litmos_case("a page repeating the previous page's ids (users page 2)",
                lambda w: w.litmos.add_fault(FaultRule("repeat", count=1,
                                                       path_prefix="/users"))),
    litmos_case("401 half way (key revoked after 60 requests)",
                lambda w: w.litmos.add_fault(FaultRule("401", after=60))),
    litmos_case("a course deleted between listing and fetching its enrollees",
                course_vanishes, tenant_changes=True),
]


# ---------------------------------------------------------------------------------------
# C1 faults: the daemon serves a sync task C1 asks for, under the fault
# ---------------------------------------------------------------------------------------


def c1_case(title: str, arm: Callable[[rw.World], None]) -> Case:
    def run(ctx: Ctx) -> Row:
        row = Row(title, "C1")
        with rw.open_world(slug(title), ctx.work, ctx.preset, ctx.clean_root) as w:
            before = w.state()
            arm(w)
            w.start_daemon()
            task = w.c1.enqueue_sync_full()
            rw.wait_for(lambda: w.c1.finished(task), TASK_TIMEOUT_S, poll_s=1.0)
            settle(w)
            first, uploads = finish_text(w, task), len(w.c1.uploads(task))
            after_first = w.state()
            follow, follow_id = next_sync(w)
            w.stop_daemon()
            final = w.state()
            row.outcome = f"task: {first}, {uploads} upload(s); " + verdict(
                after_first, before, ctx.clean)
            row.recovered = c1_recovered(first, uploads, follow, final, ctx.clean)
            fill_effects(row, w, final, ctx.clean)
            faults = [e.detail for e in w.c1.events if e.kind == "fault_injected"]
            row.evidence = (f"faults injected {len(faults)} ({', '.join(sorted(set(faults)))}); "
                            f"rejected uploads "
                            f"{sum(1 for e in w.c1.events if e.kind == 'upload_rejected')}; "
                            f"next sync task: {follow} ({len(w.c1.uploads(follow_id))} upload)"
                            + run_failures(w))
        return row

    return run


def c1_recovered(first: str, uploads: int, follow: str, final: rw.State,
                 clean: rw.State) -> str:
    if first == "success" and uploads >= 1 and final.same_tables(clean):
        return "yes"
    if first.startswith("error (retryable)") and follow == "success":
        return "yes: task failed (retryable), the next sync succeeded"
    if first == "never finished":
        return f"no: the task was never finished (next sync: {follow})"
    return f"no: task {first}, next sync {follow}"


def run_failures(w: rw.World) -> str:
    failed = [r for r in rw.runs_of(w) if r.status.value != "SUCCESS"]
    if not failed:
        return ""
    return "; runs not successful: " + ", ".join(f"{r.job_name} {r.status.value}"
                                                  for r in failed)


C1_CASES: list[Case] = [
    c1_case("C1 token endpoint answers 500 (3 requests)",
            lambda w: w.c1.fail_next_token_requests(3, "500")),
    c1_case("C1 token endpoint down (3 requests hung up)",
            lambda w: w.c1.fail_next_token_requests(3, "down")),
    c1_case("UNAVAILABLE on GetTask (3 calls)", lambda w: w.c1.fail_next_calls("GetTask", 3)),
    c1_case("UNAVAILABLE on Heartbeat (3 calls)",
            lambda w: w.c1.fail_next_calls("Heartbeat", 3)),
    c1_case("UNAVAILABLE on FinishTask (1 call)",
            lambda w: w.c1.fail_next_calls("FinishTask", 1)),
    c1_case("upload stream cut half way", lambda w: w.c1.cut_next_uploads(1)),
    c1_case("upload checksum rejected (DATA_LOSS)", lambda w: w.c1.reject_next_uploads(1)),
    c1_case("FinishTask failing after a successful run (UNAVAILABLE x10)",
            lambda w: w.c1.fail_next_calls("FinishTask", 10)),
]


# ---------------------------------------------------------------------------------------
# Process kills: SIGKILL the run worker (and its step processes) at a phase
# ---------------------------------------------------------------------------------------

Trigger = Callable[[list[Any]], bool]


def kill_case(title: str, trigger: Trigger, arm: Callable[[rw.World], None] | None = None,
              delay_s: float = 0.0) -> Case:
    def run(ctx: Ctx) -> Row:
        row = Row(title, "Process")
        with rw.open_world(slug(title), ctx.work, ctx.preset, ctx.clean_root,
                           litmos={"latency_ms": 20.0}) as w:
            before = w.state()
            if arm:
                arm(w)
            w.start_daemon()
            task = w.c1.enqueue_sync_full()
            hit = wait_phase(w, task, trigger, delay_s)
            if hit is None:
                row.outcome = "the phase was never reached (bounded wait): no kill"
                row.recovered = "not tested"
                return row
            run_id, pid, killed, phase = hit
            failed = rw.wait_for(lambda: run_marked_failed(w, run_id), RUN_GONE_S, poll_s=1.0)
            # The failure sensor finishes the task on one of its next ticks.
            rw.wait_for(lambda: w.c1.finished(task), SETTLE_S, poll_s=1.0)
            after_kill = w.state()
            follow, follow_id = next_sync(w)
            first = finish_text(w, task)  # by the end of the case
            w.stop_daemon()
            final = w.state()
            row.outcome = f"killed at: {phase}; task: {first}; " + verdict(
                after_kill, before, ctx.clean)
            row.recovered = kill_recovered(failed, first, follow, final, ctx.clean)
            fill_effects(row, w, final, ctx.clean)
            row.evidence = (f"killed pids {killed} of run {run_id[:8]}; run status after "
                            f"{RUN_GONE_S:.0f} s: {run_status(w, run_id)}; next sync task: "
                            f"{follow} ({len(w.c1.uploads(follow_id))} upload); staging "
                            f"files left {len(list((w.data / 'staging').glob('*')))}")
        return row

    return run


def wait_phase(w: rw.World, task: str, trigger: Trigger,
               delay_s: float) -> tuple[str, int, list[int], str] | None:
    """Wait for the task's run to reach the phase; SIGKILL its worker tree there."""
    run = rw.wait_for(lambda: rw.run_for_task(w, task), TASK_TIMEOUT_S, poll_s=0.5)
    if run is None:
        return None

    def reached() -> tuple[int, list[Any]] | None:
        events = rw.run_events(w, run.run_id)
        pid = rw.run_worker_pid(events)
        return (pid, events) if pid and trigger(events) else None

    found = rw.wait_for(reached, TASK_TIMEOUT_S, poll_s=0.1)
    if found is None:
        return None
    time.sleep(delay_s)
    pid, events = found
    killed = rw.kill_tree(pid)
    return run.run_id, pid, killed, phase_of(rw.run_events(w, run.run_id))


def phase_of(events: list[Any]) -> str:
    """The last milestone the run's event log shows (what the kill interrupted)."""
    marks = [("extract started", rw.step_started(events, "litmos_extract")),
             ("extract staged", rw.materialized(events, "litmos_users")),
             ("model build started", rw.step_started(events, "c1_model")),
             ("model checked (swap under way)", rw.check_evaluated(events, "c1_model")),
             ("snapshot swapped", rw.materialized(events, "c1_grants")),
             ("c1z write started", rw.step_started(events, "c1_sync_file")),
             ("c1z written (upload under way)", rw.logged(events, "c1_sync_file", "wrote ")),
             ("uploaded and finished", rw.materialized(events, "c1_sync_file"))]
    reached = [name for name, hit in marks if hit]
    return reached[-1] if reached else "before the first step"


def run_marked_failed(w: rw.World, run_id: str) -> bool:
    return run_status(w, run_id) in ("FAILURE", "CANCELED")


def run_status(w: rw.World, run_id: str) -> str:
    runs = [r for r in rw.runs_of(w) if r.run_id == run_id]
    return runs[0].status.value if runs else "missing"


def kill_recovered(failed: bool, first: str, follow: str, final: rw.State,
                   clean: rw.State) -> str:
    problems = []
    if not failed:
        problems.append("the killed run was never marked failed")
    if first == "never finished":
        problems.append("its C1 task was never finished")
    if follow != "success":
        problems.append(f"the next sync: {follow}")
    if not final.same_tables(clean):
        problems.append("final tables differ from a clean sync")
    return "yes" if not problems else "no: " + "; ".join(problems)


def hold_upload(w: rw.World) -> None:
    # The first upload attempt is refused UNAVAILABLE: the client backs off before it
    # retries, which is when the kill lands (an upload of this size takes milliseconds).
    w.c1.fail_next_calls("UploadAsset", 1)


KILL_CASES: list[Case] = [
    kill_case("SIGKILL during extract", lambda ev: rw.step_started(ev, "litmos_extract"),
              delay_s=1.0),
    kill_case("SIGKILL during model build", lambda ev: rw.step_started(ev, "c1_model")),
    kill_case("SIGKILL during swap", lambda ev: rw.check_evaluated(ev, "c1_model")),
    kill_case("SIGKILL during c1z write", lambda ev: rw.step_started(ev, "c1_sync_file")),
    kill_case("SIGKILL during upload", lambda ev: rw.logged(ev, "c1_sync_file", "wrote "),
              arm=hold_upload),
]


# ---------------------------------------------------------------------------------------
# Provisioning killed between its Litmos change and FinishTask; the daemon killed
# ---------------------------------------------------------------------------------------


def free_grants(w: rw.World, n: int) -> list[tuple[str, str]]:
    """(entitlement id, principal) pairs, one per active user, for courses the user is not
    in: each grant writes one distinct Litmos path (POST /users/{id}/courses)."""
    tenant = w.litmos.tenant
    out = []
    for user in tenant.users(active_only=True):
        course = next((c for c in tenant.courses() if tenant.enrollment(user.id, c.id) is None),
                      None)
        if course is not None:
            out.append((f"course:{course.id}:assigned", f"user:{user.id}"))
        if len(out) == n:
            break
    return out


def kill_between_change_and_finish(ctx: Ctx) -> Row:
    title = "SIGKILL between a Litmos change and its FinishTask"
    row = Row(title, "Process")
    with rw.open_world(slug(title), ctx.work, ctx.preset, ctx.clean_root) as w:
        [(entitlement, principal)] = free_grants(w, 1)
        user_id, course_id = principal.split(":")[1], entitlement.split(":")[1]
        # Read-backs of the user's courses answer after 8 s: the change is made, the run
        # is still reading it back (before its FinishTask) when the kill lands.
        w.litmos.add_fault(FaultRule("slow", path_prefix=f"/users/{user_id}/courses",
                                     method="GET", slow_ms=8000))
        w.start_daemon()
        task = w.c1.enqueue_grant(entitlement, principal)
        wrote = rw.wait_for(lambda: w.litmos.stats()["writes"], TASK_TIMEOUT_S)
        run = rw.run_for_task(w, task)
        if not wrote or run is None:
            row.outcome, row.recovered = "the Litmos change was never made: no kill", "no"
            return row
        pid = rw.run_worker_pid(rw.run_events(w, run.run_id))
        killed = rw.kill_tree(pid) if pid else []
        w.litmos.clear_faults()
        failed = rw.wait_for(lambda: run_marked_failed(w, run.run_id), RUN_GONE_S, poll_s=1.0)
        rw.wait_for(lambda: w.c1.finished(task), 30, poll_s=1.0)
        first = finish_text(w, task)
        follow, _ = next_sync(w)
        w.stop_daemon()
        final = w.state()
        reference = reference_state(w)
        enrolled = w.litmos.tenant.enrollment(user_id, course_id) is not None
        row.outcome = (f"task: {first}; Litmos enrolled: {enrolled}; after the next sync: "
                       + verdict(final, ctx.clean, reference))
        problems = [p for p, bad in (("the killed run was never marked failed", not failed),
                                     ("its C1 task was never finished", first ==
                                      "never finished"),
                                     (f"the next sync: {follow}", follow != "success"))
                    if bad]
        row.recovered = "yes" if not problems else "no: " + "; ".join(problems)
        fill_effects(row, w, final, reference)
        row.evidence = (f"killed pids {killed}; run status {run_status(w, run.run_id)}; "
                        f"finishes for the task {sum(f.task_id == task for f in w.c1.finishes)}"
                        f"; Litmos writes {[w_['path'] for w_ in w.litmos.stats()['writes']]}")
    return row


def daemon_killed(ctx: Ctx) -> Row:
    title = "dagster-daemon SIGKILLed during a sync, then restarted"
    row = Row(title, "Process")
    with rw.open_world(slug(title), ctx.work, ctx.preset, ctx.clean_root,
                       litmos={"latency_ms": 20.0}) as w:
        before = w.state()
        w.start_daemon()
        task = w.c1.enqueue_sync_full()
        run = rw.wait_for(lambda: rw.run_for_task(w, task), TASK_TIMEOUT_S, poll_s=0.5)
        if run is not None:
            rw.wait_for(lambda: rw.step_started(rw.run_events(w, run.run_id),
                                                "litmos_extract"), TASK_TIMEOUT_S)
        w.kill_daemon()
        time.sleep(2.0)
        w.start_daemon()
        rw.wait_for(lambda: w.c1.finished(task), TASK_TIMEOUT_S, poll_s=1.0)
        settle(w)
        first, uploads = finish_text(w, task), len(w.c1.uploads(task))
        follow, _ = next_sync(w)
        w.stop_daemon()
        final = w.state()
        row.outcome = f"task: {first}, {uploads} upload(s); " + verdict(final, before, ctx.clean)
        row.recovered = c1_recovered(first, uploads, follow, final, ctx.clean)
        fill_effects(row, w, final, ctx.clean)
        row.evidence = (f"run {run.run_id[:8] if run else '-'} status "
                        f"{run_status(w, run.run_id) if run else '-'}; next sync {follow}"
                        + run_failures(w))
    return row


# ---------------------------------------------------------------------------------------
# Concurrency
# ---------------------------------------------------------------------------------------


def two_syncs(ctx: Ctx) -> Row:
    title = "two syncs requested at once"
    row = Row(title, "Concurrency")
    with rw.open_world(slug(title), ctx.work, ctx.preset, ctx.clean_root,
                       litmos={"latency_ms": 20.0}) as w:
        w.start_daemon()
        tasks = [w.c1.enqueue_sync_full(), w.c1.enqueue_sync_full()]
        rw.wait_for(lambda: all(w.c1.finished(t) for t in tasks), 2 * TASK_TIMEOUT_S, 1.0)
        settle(w)
        w.stop_daemon()
        final = w.state()
        results = [finish_text(w, t) for t in tasks]
        uploads = [len(w.c1.uploads(t)) for t in tasks]
        runs = [len(rw.runs_of(w, rw.task_filter(t))) for t in tasks]
        row.outcome = f"tasks: {results}; uploads {uploads}; " + verdict(final, final, ctx.clean)
        ok = results == ["success"] * 2 and uploads == [1, 1] and final.same_tables(ctx.clean)
        row.recovered = "yes" if ok else "no"
        fill_effects(row, w, final, ctx.clean)
        row.evidence = f"runs per task {runs}; offers {[w.c1.task(t).offers for t in tasks]}"
    return row


def provision_during_sync(ctx: Ctx) -> Row:
    title = "a provisioning run while a sync holds the DuckDB file"
    row = Row(title, "Concurrency")
    with rw.open_world(slug(title), ctx.work, ctx.preset, ctx.clean_root,
                       litmos={"latency_ms": 20.0}) as w:
        [(entitlement, principal)] = free_grants(w, 1)
        w.start_daemon()
        sync_task = w.c1.enqueue_sync_full()
        run = rw.wait_for(lambda: rw.run_for_task(w, sync_task), TASK_TIMEOUT_S, poll_s=0.5)
        if run is not None:
            rw.wait_for(lambda: rw.step_started(rw.run_events(w, run.run_id), "c1_model"),
                        TASK_TIMEOUT_S, poll_s=0.1)
        asked = time.monotonic()
        grant = w.c1.enqueue_grant(entitlement, principal)
        rw.wait_for(lambda: w.c1.finished(grant), TASK_TIMEOUT_S, poll_s=0.2)
        grant_s = time.monotonic() - asked
        rw.wait_for(lambda: w.c1.finished(sync_task), TASK_TIMEOUT_S, poll_s=1.0)
        settle(w)
        w.stop_daemon()
        final = w.state()
        reference = reference_state(w)
        results = [finish_text(w, sync_task), finish_text(w, grant)]
        row.outcome = (f"sync: {results[0]}, grant: {results[1]} after {grant_s:.1f} s; "
                       + verdict(final, final, reference))
        has_grant = f"{entitlement}:{principal}" in set(final.grant_ids)
        ok = results == ["success", "success"] and final.same_tables(reference)
        row.recovered = "yes" if ok else "no"
        fill_effects(row, w, final, reference)
        row.evidence = f"the new grant in c1_grants: {has_grant}" + run_failures(w)
    return row


def many_grants(ctx: Ctx) -> Row:
    n = ctx.grant_tasks
    title = f"{n:,} grant tasks queued at once (and a sync asked for 10 s later)"
    row = Row(title, "Concurrency")
    # Litmos' real limit for the key; the pipeline's defaults share it (sync 90/min,
    # provisioning 10/min).
    with rw.open_world(slug(title), ctx.work, ctx.preset, ctx.clean_root,
                       litmos={"rate_limit_per_minute": 100}) as w:
        w.env_extra.update({"LITMOS_REQUESTS_PER_MINUTE": "90"})
        pairs = free_grants(w, n)
        row.case = title.replace(f"{n:,} grant", f"{len(pairs):,} grant")  # as many as exist
        w.start_daemon()
        started = time.monotonic()
        tasks = [w.c1.enqueue_grant(e, p) for e, p in pairs]
        time.sleep(10.0)
        sync_task = w.c1.enqueue_sync_full()
        rw.wait_for(lambda: w.c1.finished(sync_task) and all(w.c1.finished(t) for t in tasks),
                    ctx.grant_window_s, poll_s=2.0)
        elapsed = time.monotonic() - started
        done = sum(1 for t in tasks if w.c1.finished(t))
        succeeded = sum(1 for t in tasks if finish_text(w, t) == "success")
        sync_result = finish_text(w, sync_task)
        w.stop_daemon()
        stats = w.litmos.stats()
        final = w.state()
        fill_effects(row, w, final, ctx.clean)
        row.grants_lost = 0  # the tenant gained grants; lost is judged per finished task
        sync_s = sync_finished_after(w, sync_task, started)
        row.outcome = (f"{done}/{len(tasks)} finished ({succeeded} success) in {elapsed:.0f} s;"
                       f" sync: {sync_result}"
                       + (f" {sync_s:.0f} s after the grants were queued" if sync_s else ""))
        # At the key's 100 requests a minute (about 4 per grant, the sync's 90 a minute
        # first) the whole queue takes far longer than the bound: what the bound can show
        # is that the sync is not starved, nothing is done twice and the limit holds. The
        # grants still pending then stay pending in C1; none is lost.
        limit_kept = stats["max_requests_in_window"] <= 100 and not stats["rate_limited_503s"]
        ok = sync_result == "success" and row.finish_dup == 0 and limit_kept \
            and succeeded == done
        pending = len(tasks) - done
        row.recovered = ("yes: the sync was not starved; " if ok else "no: ") + (
            f"{pending} grants still pending in C1 at the {ctx.grant_window_s:.0f} s bound"
            + ("" if sync_result == "success" else "; the sync did not finish")
            + ("" if limit_kept else "; the key's limit was exceeded"))
        row.evidence = (f"Litmos key limit 100/min: max requests in a 60 s window "
                        f"{stats['max_requests_in_window']}, rate-limited 503s "
                        f"{stats['rate_limited_503s']}; Litmos writes {len(stats['writes'])}; "
                        f"FinishTask calls {len(w.c1.finishes)}; offers > 1 for "
                        f"{sum(1 for t in tasks if w.c1.task(t).offers > 1)} tasks")
    return row


def sync_finished_after(w: rw.World, task_id: str, started: float) -> float | None:
    """Seconds from `started` (monotonic) to the task's accepted FinishTask, if any."""
    finish = w.c1.finished(task_id)
    if finish is None:
        return None
    return finish.at - (time.time() - (time.monotonic() - started))


CONCURRENCY_CASES: list[Case] = [two_syncs, provision_during_sync, many_grants]
ALL_CASES: list[Case] = [*LITMOS_CASES, *C1_CASES, *KILL_CASES, kill_between_change_and_finish,
                         daemon_killed, *CONCURRENCY_CASES]


# ---------------------------------------------------------------------------------------
# Running and reporting
# ---------------------------------------------------------------------------------------


def slug(title: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in title.lower()).strip("-")[:60]


def case_title(case: Case, grant_tasks: int) -> str:
    """A case's title without running it (closures carry it; the rest are named)."""
    names = {kill_between_change_and_finish: "SIGKILL between a Litmos change and its "
             "FinishTask", daemon_killed: "dagster-daemon SIGKILLed during a sync",
             two_syncs: "two syncs requested at once",
             provision_during_sync: "a provisioning run while a sync holds the DuckDB file",
             many_grants: f"{grant_tasks} grant tasks queued at once"}
    if case in names:
        return names[case]
    cells = case.__closure__ or ()
    return next((c.cell_contents for c in cells if isinstance(c.cell_contents, str)), "?")


def run_cases(cases: Sequence[Case], ctx: Ctx, log: Callable[[str], None]) -> list[Row]:
    rows = []
    for case in cases:
        started = time.monotonic()
        title = case_title(case, ctx.grant_tasks)
        log(f"[reliability] {title} ...")
        try:
            row = case(ctx)
        except Exception as exc:  # a harness error is a row too, never a silent gap
            row = Row(title, "?", outcome=f"HARNESS ERROR {type(exc).__name__}: {exc}",
                      recovered="not tested")
        row.seconds = round(time.monotonic() - started, 1)
        log(f"[reliability]   -> {row.recovered} | {row.outcome} ({row.seconds} s)")
        rows.append(row)
    return rows


def clean_baseline(work: Path, preset: str) -> tuple[Path, rw.State]:
    with rw.open_world("clean", work, preset, None) as w:
        if not w.sync():
            raise SystemExit(f"the clean sync failed; see {w.root}/sync-1.log")
        return w.root, w.state()


def render(rows: Sequence[Row], info: dict[str, Any], command: str, wall_s: float,
           preset: str, clean: rw.State) -> str:
    head = [
        "# Reliability: the crash and fault matrix",
        "",
        f"Produced by `{command}` (`benchmarks/reliability.py`) on "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC in {wall_s / 60:.1f} min, git "
        f"`{info['start']['git_head']}` at the start and `{info['git_head']}` at the end"
        + (f", uncommitted pipeline files at the start: "
           f"{', '.join(info['start']['uncommitted_pipeline_files'])}"
           if info["start"]["uncommitted_pipeline_files"] else "")
        + " (every daemon and run process imports the working tree when it starts).",
        f"Machine: {info['nproc']} cores ({info['cpu_model']}), {info['ram_gb']} GB, "
        f"{info['platform']}, Python {info['python']}, dagster {info['dagster']}, duckdb "
        f"{info['duckdb']}.",
        "",
        f"Tenant: the `{preset}` preset with half its enrollments "
        f"({len(clean.grant_ids):,} grants in a clean sync). Each case starts from a clean "
        "sync's snapshot in fresh folders, with its own Litmos and C1 sandboxes on 127.0.0.1.",
        "Litmos cases run `dagster job execute -j litmos_sync` (and, after a clean failure, "
        "the next run with the fault gone); C1, process and concurrency cases run a real "
        "`dagster-daemon` whose task sensor serves what the C1 sandbox asks for, and then "
        "one more sync C1 asks for (the \"next sync\").",
        "",
        "**Outcome** compares the main DuckDB file's `c1_*` tables (every row and column) with "
        "a clean sync of the same tenant, or, when the run failed, with the snapshot the "
        "case started from (and `latest.c1z`'s sha256). **Recovered unattended**: no person "
        "was needed — the run succeeded, or it failed cleanly and the next run succeeded, "
        "and (C1 and process cases) C1's task was finished. **Grants lost**: grant ids of "
        "the clean sync missing at the end. **Grants duplicated**: repeated grant ids in "
        "`c1_grants`. **Effects duplicated**: Litmos writes sent twice to one path, "
        "FinishTask calls beyond one per task.",
        "",
        "| case | runs | outcome | recovered unattended | grants lost | grants duplicated "
        "| effects duplicated (Litmos writes / FinishTask) | s |",
        "|---|---:|---|---|---:|---:|---|---:|",
    ]
    body = [f"| {r.case} | {r.runs} | {cell(r.outcome)} | {cell(r.recovered)} | "
            f"{r.grants_lost} | {r.grants_duplicated} | {r.litmos_dup} / {r.finish_dup} | "
            f"{r.seconds} |" for r in rows]
    evidence = ["", "## Evidence per case", ""]
    evidence += [f"- **{r.case}**: {cell(r.evidence) or '-'}" for r in rows]
    failing = [r for r in rows if not r.recovered.startswith("yes")]
    summary = ["", "## Not recovered unattended", ""]
    summary += [f"- **{r.case}**: {cell(r.recovered)}. {cell(r.outcome)}." for r in failing]
    if not failing:
        summary.append("- none")
    return "\n".join(head + body + evidence + summary) + "\n"


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.reliability", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", choices=("tiny", "small"), default="small")
    p.add_argument("--only", default="",
                   help="only cases whose title contains one of these (comma-separated)")
    p.add_argument("--grant-tasks", type=int, default=1000)
    # The sync needs its ~194 requests at the 45 a minute it keeps while approvals flood
    # the key (litmos.budget), ~260 s, after ~40-80 s to be reached and started, and ~15 s
    # to build and write: 360 s left it finishing at 322 s alone and past 360 s in the
    # matrix. The bound is what the case can show in; the whole queue takes ~40 minutes.
    p.add_argument("--grant-window-s", type=float, default=480.0,
                   help="bound on the many-grant-tasks case")
    p.add_argument("--out", type=Path, default=REPORT)
    p.add_argument("--work-dir", type=Path, default=WORK_DIR)
    p.add_argument("--keep", action="store_true", help="keep .reliability/ afterwards")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    at_start = source_version()  # other work may land while the matrix runs

    def log(message: str) -> None:
        print(message, flush=True)

    wanted = [w.strip().lower() for w in args.only.split(",")]
    cases = [c for c in ALL_CASES
             if any(w in case_title(c, args.grant_tasks).lower() for w in wanted)]
    with interrupt_on_signals():
        try:
            clean_root, clean = clean_baseline(args.work_dir, args.preset)
            ctx = Ctx(args.work_dir, args.preset, clean_root, clean, args.grant_tasks,
                      args.grant_window_s)
            rows = run_cases(cases, ctx, log)
        except KeyboardInterrupt:
            log("interrupted: the sandboxes and daemons were stopped")
            return 130
    command = ("make reliability" if not argv
               else "python -m benchmarks.reliability " + " ".join(argv))
    info = {**machine(), "start": at_start}
    text = render(rows, info, command, time.monotonic() - started, args.preset, clean)
    args.out.write_text(text)
    log(text)
    if not args.keep:
        import shutil

        shutil.rmtree(args.work_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
