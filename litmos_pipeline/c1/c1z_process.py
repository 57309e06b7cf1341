"""Write a c1z in a child process that imports only what the writer needs.

A Dagster run process carries Dagster, gRPC and the pipeline (~175 MB before any work),
and the writer's own buffers on top of that went past the 300 MB a process may use. A
fresh interpreter with just DuckDB, protobuf and zstandard starts at ~60 MB. The child
gets its request as JSON on stdin and answers the summary as JSON on stdout.

Run by hand: ``echo '{...}' | python -m litmos_pipeline.c1.c1z_process``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import traceback
from datetime import datetime
from pathlib import Path
from typing import Any

from litmos_pipeline.c1 import c1z
from litmos_pipeline.warehouse import store

STDERR_TAIL_CHARS = 4000


def write_c1z_file(dest: Path, db_path: Path, *, sync_id: str, started_at: datetime,
                   ended_at: datetime, memory_limit: str) -> c1z.C1zSummary:
    """`c1z.write_c1z` of the c1_* tables in `db_path`, run in a child process."""
    request = {"dest": str(dest), "db_path": str(db_path), "sync_id": sync_id,
               "started_at": started_at.isoformat(), "ended_at": ended_at.isoformat(),
               "memory_limit": memory_limit}
    with subprocess.Popen([sys.executable, "-m", __name__], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as child:
        try:
            out, err = child.communicate(json.dumps(request))
        except BaseException:  # the run was interrupted: take the writer down with it
            child.kill()
            raise
    answer = _answer(out)
    if child.returncode == 0 and "summary" in answer:
        return _summary(answer["summary"])
    if answer.get("error") == "input":
        raise c1z.C1zInputError(answer["message"])
    if answer.get("error") == "c1z":
        raise c1z.C1zError(answer["message"])
    reason = answer.get("message") or err[-STDERR_TAIL_CHARS:].strip() or "no output"
    raise c1z.C1zError(f"the c1z writer process failed (exit code {child.returncode}): "
                       f"{reason}")


def _answer(out: str) -> dict[str, Any]:
    lines = out.strip().splitlines()
    try:
        return json.loads(lines[-1]) if lines else {}
    except ValueError:
        return {}


def _summary(data: dict[str, Any]) -> c1z.C1zSummary:
    return c1z.C1zSummary(**{**data, "path": Path(data["path"])})


def _serve(request: dict[str, Any]) -> dict[str, Any]:
    with store.opened(Path(request["db_path"]), read_only=True,
                      memory_limit=request["memory_limit"]) as con:
        summary = c1z.write_c1z(Path(request["dest"]), con, sync_id=request["sync_id"],
                                started_at=datetime.fromisoformat(request["started_at"]),
                                ended_at=datetime.fromisoformat(request["ended_at"]))
    return {**summary.__dict__, "path": str(summary.path)}


def _exit_with_parent() -> None:
    # An orphaned writer would finish a c1z nobody asked for any more.
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(3)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def main() -> int:
    _exit_with_parent()
    try:
        answer = {"summary": _serve(json.loads(sys.stdin.read()))}
        code = 0
    except c1z.C1zInputError as exc:
        answer, code = {"error": "input", "message": str(exc)}, 2
    except c1z.C1zError as exc:
        answer, code = {"error": "c1z", "message": str(exc)}, 2
    except Exception as exc:
        traceback.print_exc()
        answer, code = {"error": "crash", "message": f"{type(exc).__name__}: {exc}"}, 1
    print(json.dumps(answer))
    return code


if __name__ == "__main__":
    sys.exit(main())
