"""No secret is ever written: not to logs, Dagster's storage, DuckDB, staging or c1z files.

A real dagster-daemon (DAGSTER_HOME in tmp_path) serves C1 tasks against both sandboxes: a
full sync with its upload, a grant and a create-account (provisioning runs), and a sync
that fails. Then every byte the pipeline wrote is searched for the Litmos API key, the C1
client secret (and the private key inside it), every bearer token C1 issued, and every
LoginKey Litmos served: raw bytes of every file, the decompressed c1z files, and the rows
of every DuckDB and SQLite database (DuckDB compresses strings, SQLite splits long ones
across pages, so raw bytes alone could miss them). A positive control proves the scan
finds what is there.
"""

from __future__ import annotations

import html
import json
import re
import secrets
import shutil
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pytest

from litmos_pipeline.c1 import c1z
from litmos_pipeline.c1.credentials import SECRET_PREFIX, b64url_decode
from litmos_sandbox.c1 import C1Sandbox
from litmos_sandbox.litmos import FaultRule, LitmosSandbox, Response
from tests.defs.daemon import World as DaemonWorld
from tests.defs.daemon import daemon_world as start_world
from tests.defs.daemon import wait_for

# Random per test run, behind a marker: no file can hold it by chance or from an old run.
API_KEY = f"LITMOSKEY-{secrets.token_hex(16)}-secret"  # 49 chars: Litmos allows 50
LOGIN_KEY_FIELD = re.compile(rb'<LoginKey>([^<]*)</LoginKey>|"LoginKey"\s*:\s*("(?:[^"\\]|\\.)*")')
DUCKDB_MAGIC_AT_8 = b"DUCK"
DONE = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}


@dataclass
class Served:
    """What the sandboxes handed out: bearer tokens (C1) and LoginKeys (Litmos)."""

    tokens: set[str] = field(default_factory=set)
    login_keys: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record_tokens(self, c1: C1Sandbox) -> None:
        # The sandbox keeps issued tokens private; its token endpoint calls issue_token.
        issue = c1.issue_token

        def recording(form: dict[str, str]) -> dict[str, Any]:
            answer = issue(form)
            with self.lock:
                self.tokens.add(answer["access_token"])
            return answer

        c1.issue_token = recording  # type: ignore[method-assign]

    def record_login_keys(self, litmos: LitmosSandbox) -> None:
        handle = litmos.app.handle

        def recording(*args: Any, **kwargs: Any) -> Response:
            response = handle(*args, **kwargs)
            keys = {_login_key(m) for m in LOGIN_KEY_FIELD.finditer(response.body or b"")}
            with self.lock:
                self.login_keys |= {k for k in keys if k}
            return response

        litmos.app.handle = recording  # type: ignore[method-assign]


def _login_key(match: re.Match[bytes]) -> str:
    xml, as_json = match.groups()
    if xml is not None:
        return html.unescape(xml.decode())
    return str(json.loads(as_json.decode()))


@dataclass
class World:
    """The daemon world and what its sandboxes served."""

    base: DaemonWorld
    served: Served

    def __getattr__(self, name: str) -> Any:
        return getattr(self.base, name)

    def runs(self, task_id: str | None = None) -> list[dg.DagsterRun]:
        tags = {f"c1/task.{task_id}": "1"} if task_id else None
        with dg.DagsterInstance.from_config(str(self.home)) as instance:
            return list(instance.get_runs(filters=dg.RunsFilter(tags=tags)))

    def failed_run_of(self, task_id: str) -> bool:
        return any(r.status == dg.DagsterRunStatus.FAILURE for r in self.runs(task_id))


@contextmanager
def daemon_world(tmp_path: Path) -> Iterator[World]:
    """Both sandboxes (a tiny tenant, our API key) and a dagster-daemon, as in production.

    Stopped before the scan: every file is flushed and closed.
    """
    served = Served()

    def record(litmos: LitmosSandbox, c1: C1Sandbox) -> None:
        served.record_tokens(c1)
        served.record_login_keys(litmos)

    with start_world(tmp_path, latency_ms=0, api_key=API_KEY, before_daemon=record,
                     lease_timeout_s=5, next_heartbeat_s=1) as base:
        yield World(base, served)


# --------------------------------------------------------------------------- the scan


def secret_needles(world: World) -> dict[str, bytes]:
    """Each secret, and the parts of it a careless encoder could write on their own."""
    payload = world.client_secret.removeprefix(SECRET_PREFIX)
    jwk = json.loads(b64url_decode(payload))
    needles = {"LITMOS_API_KEY": API_KEY, "C1_CLIENT_SECRET": world.client_secret,
               "C1_CLIENT_SECRET payload": payload, "C1 private key (jwk d)": jwk["d"]}
    for n, token in enumerate(sorted(world.served.tokens)):
        needles[f"C1 bearer token #{n}"] = token
    for n, key in enumerate(sorted(world.served.login_keys)):
        needles[f"Litmos LoginKey #{n}"] = key
        _, sep, value = key.partition("loginkey=")
        if sep and value:
            needles[f"Litmos LoginKey #{n} value"] = value
    return {name: value.encode() for name, value in needles.items()}


def written_files(*roots: Path) -> list[Path]:
    return sorted(p for root in roots for p in root.rglob("*") if p.is_file())


def contents(path: Path, scratch: Path) -> Iterator[tuple[str, bytes]]:
    """(where, bytes) of a file: its raw bytes, plus what a c1z or database holds."""
    data = path.read_bytes()
    yield str(path), data
    if data.startswith(c1z.MAGIC):
        yield from _c1z_contents(path, scratch)
    elif data.startswith(c1z.SQLITE_HEADER):
        yield from _sqlite_rows(path, scratch)
    elif data[8:12] == DUCKDB_MAGIC_AT_8:
        yield from _duckdb_rows(path, scratch)


def _c1z_contents(path: Path, scratch: Path) -> Iterator[tuple[str, bytes]]:
    with c1z.read_c1z(path, work_dir=scratch) as opened:
        db_path = opened._tmp_dir / "sync.db"
        yield f"{path} (decompressed)", db_path.read_bytes()
        yield from _sqlite_rows(db_path, scratch, label=f"{path} (decompressed)")


def _copy_with_sidecars(path: Path, scratch: Path, suffixes: Iterable[str]) -> Path:
    # A copy: the scan never opens (or replays the WAL of) a file the pipeline wrote.
    target = Path(shutil.copytree(path.parent, scratch / f"copy-{secrets.token_hex(4)}",
                                  ignore=lambda d, names: [
                                      n for n in names if n not in
                                      {path.name + s for s in ("", *suffixes)}]))
    return target / path.name


def _sqlite_rows(path: Path, scratch: Path, label: str = "") -> Iterator[tuple[str, bytes]]:
    copy = _copy_with_sidecars(path, scratch, ("-wal", "-journal"))
    try:
        with closing(sqlite3.connect(copy)) as db:
            tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master "
                                               "WHERE type = 'table'")]
            for table in tables:
                rows = db.execute(f'SELECT * FROM "{table}"').fetchall()
                yield f"{label or path} table {table}", _row_bytes(rows)
    except sqlite3.DatabaseError:
        return  # a temp or partial file; its raw bytes were scanned


def _duckdb_rows(path: Path, scratch: Path) -> Iterator[tuple[str, bytes]]:
    copy = _copy_with_sidecars(path, scratch, (".wal",))
    with duckdb.connect(str(copy)) as con:
        tables = con.execute("SELECT schema_name, table_name FROM duckdb_tables() "
                             "WHERE database_name = current_database()").fetchall()
        for schema, table in tables:
            rows = con.execute(f'SELECT * FROM "{schema}"."{table}"').fetchall()
            yield f"{path} table {schema}.{table}", _row_bytes(rows)


def _row_bytes(rows: list[tuple[Any, ...]]) -> bytes:
    parts = []
    for row in rows:
        for value in row:
            parts.append(value if isinstance(value, bytes) else str(value).encode())
    return b"\x00".join(parts)


def find(needles: dict[str, bytes], sources: Iterable[tuple[str, bytes]]) -> dict[str, list[str]]:
    """Where each needle occurs (empty lists: nowhere)."""
    hits: dict[str, list[str]] = {name: [] for name in needles}
    for where, data in sources:
        for name, needle in needles.items():
            if needle in data:
                hits[name].append(f"{where} ({data.count(needle)}x)")
    return hits


def scan(roots: list[Path], scratch: Path, extra: list[tuple[str, bytes]],
         needles: dict[str, bytes]) -> tuple[dict[str, list[str]], list[Path]]:
    paths = written_files(*roots)
    sources = (item for path in paths for item in contents(path, scratch))
    return find(needles, [*extra, *sources]), paths


# --------------------------------------------------------------------------- the test


def play_tasks(world: World) -> set[str]:
    """A sync with its upload, two provisioning runs, and a failed sync, through C1.

    Returns the ids of the users provisioning read from Litmos (GET /users/{id}).
    """
    c1, tenant = world.c1, world.litmos.tenant
    sync_task = c1.enqueue_sync_full()
    finish = wait_for("the sync task to finish", lambda: c1.finished(sync_task), 120)
    assert finish.outcome == "success" and len(c1.uploads(sync_task)) == 1

    user = next(u for u in tenant.users() if u.active)
    course = next(c for c in tenant.courses() if tenant.enrollment(user.id, c.id) is None)
    provisioning = [
        c1.enqueue_grant(f"course:{course.id}:assigned", f"user:{user.id}"),
        c1.enqueue_create_account("scan.hire", "scan.hire@example.com", "Scan", "Hire"),
    ]
    for task_id in provisioning:
        finish = wait_for("a provisioning task to finish", lambda t=task_id: c1.finished(t), 90)
        assert finish.outcome == "success", finish.status_message
    created = tenant.user("scan.hire")
    assert created is not None

    world.litmos.add_fault(FaultRule("503", count=None, path_prefix="/courses"))
    failing = c1.enqueue_sync_full()
    wait_for("the sync to fail", lambda: world.failed_run_of(failing), 120)
    # C1 may offer the task again (its error is retryable): such a run now succeeds.
    world.litmos.clear_faults()
    wait_for("every run to end", lambda: all(r.status in DONE for r in world.runs()), 60)
    return {user.id, created.id}


def test_no_secret_is_written(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory,
                              capfd: pytest.CaptureFixture[str]) -> None:
    with daemon_world(tmp_path) as world:
        provisioned = play_tasks(world)
        outcomes = {(r.tags.get("c1/task_kind"), r.status.value) for r in world.runs()}
        login_keys = {world.litmos.login_key(user_id) for user_id in provisioned}
    # C1 may offer the failing sync again before it hears of the failure: runs vary.
    assert {("sync_full", "SUCCESS"), ("sync_full", "FAILURE"), ("grant", "SUCCESS"),
            ("create_account", "SUCCESS")} <= outcomes
    # Not vacuous: C1 issued tokens, and Litmos served the provisioned users' LoginKeys
    # (distinctive values) to the provisioning runs that read them.
    assert world.served.tokens, "C1 issued no bearer token"
    assert all(len(key) >= 12 for key in login_keys)
    assert login_keys <= world.served.login_keys, "the Litmos sandbox served no LoginKey"

    needles = secret_needles(world)
    out, err = capfd.readouterr()
    captured = [("test stdout", out.encode()), ("test stderr", err.encode())]
    user = next(u for u in world.litmos.tenant.users() if u.active)
    control = {"a user's email (control)": user.email.encode()}
    hits, paths = scan([tmp_path], tmp_path_factory.mktemp("scan"), captured,
                       {**needles, **control})

    names = {p.name for p in paths}
    assert {"latest.c1z", "w.duckdb", "daemon.log"} <= names
    assert any(p.suffix == ".db" for p in paths if world.home in p.parents)  # event logs
    assert any("compute_logs" in p.parts for p in paths)
    # The scan finds what is there: the email in the DuckDB rows and the decompressed c1z.
    where = " ".join(hits.pop("a user's email (control)"))
    assert "w.duckdb table" in where and "(decompressed) table v1_resources" in where
    assert {name: found for name, found in hits.items() if found} == {}
