"""Run a heavy step in a lean child process, so each process stays within its memory.

A Dagster run process carries Dagster, gRPC and the pipeline (~175 MB before any work),
and memory it has used stays with it until it exits. The heavy DuckDB steps (the model
build and swap, the c1z write) each run in a fresh interpreter that imports only what
they need (~70 MB), and give everything back when they exit.

The child gets ``{"func": "module:function", "kwargs": {...}}`` as JSON on stdin and
answers ``{"result": ...}`` or ``{"error": {"type": ..., "message": ...}}`` on stdout.
Errors the pipeline knows are raised again in the parent with their own type.

The child needs no credential, so it gets no environment beyond what Python and DuckDB
need to run (`child_environment`): no LITMOS_API_KEY, C1_CLIENT_SECRET or anything else.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Mapping
from typing import Any

STDERR_TAIL_CHARS = 4000
# What a worker may inherit: the interpreter's and the locale's variables, the home and
# temp folders (DuckDB's extension and spill folders), the venv, and LITMOS_FILE_MODE
# (the files a worker writes get it). Everything else stays with the parent.
ENV_ALLOWED = frozenset({"PATH", "HOME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TEMP", "TMP",
                         "VIRTUAL_ENV", "SYSTEMROOT", "LITMOS_FILE_MODE"})
ENV_ALLOWED_PREFIXES = ("LC_", "PYTHON")


class WorkerError(RuntimeError):
    """A child process failed in a way the pipeline has no exception of its own for."""


def _known_errors() -> dict[str, type[BaseException]]:
    # Imported here: the child imports this module and must stay lean.
    from litmos_pipeline.c1.c1z import C1zError, C1zInputError
    from litmos_pipeline.warehouse.snapshot import SnapshotRefused
    from litmos_pipeline.warehouse.store import WarehouseLockTimeout

    return {cls.__name__: cls for cls in (C1zError, C1zInputError, SnapshotRefused,
                                          WarehouseLockTimeout)}


def child_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The allowlisted part of `environ` (default: this process's environment)."""
    source = os.environ if environ is None else environ
    return {name: value for name, value in source.items()
            if name in ENV_ALLOWED or name.startswith(ENV_ALLOWED_PREFIXES)}


def call(func: str, **kwargs: Any) -> Any:
    """`func(**kwargs)` ("package.module:function") in a child process; its result.

    Arguments and result must be JSON values. If the caller is interrupted (a run being
    terminated), the child is killed; if the parent dies, the child exits by itself.
    """
    request = json.dumps({"func": func, "kwargs": kwargs})
    with subprocess.Popen([sys.executable, "-m", __name__], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env=child_environment()) as child:
        try:
            out, err = child.communicate(request)
        except BaseException:
            child.kill()
            raise
    answer = _last_json_line(out)
    if child.returncode == 0 and "result" in answer:
        return answer["result"]
    error = answer.get("error") or {}
    known = _known_errors().get(error.get("type", ""))
    if known is not None:
        raise known(error["message"])
    reason = error.get("message") or err[-STDERR_TAIL_CHARS:].strip() or "no output"
    raise WorkerError(f"{func} failed in its worker process "
                      f"(exit code {child.returncode}): {reason}")


def _last_json_line(out: str) -> dict[str, Any]:
    lines = out.strip().splitlines()
    try:
        return json.loads(lines[-1]) if lines else {}
    except ValueError:
        return {}


def _exit_with_parent() -> None:
    # An orphaned worker would finish work nobody is waiting for any more.
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(3)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def main() -> int:
    _exit_with_parent()
    request = json.loads(sys.stdin.read())
    module_name, _, name = request["func"].partition(":")
    try:
        result = getattr(importlib.import_module(module_name), name)(**request["kwargs"])
        answer, code = {"result": result}, 0
    except Exception as exc:
        traceback.print_exc()
        known = _is_known(exc)
        message = f"{exc}" if known else f"{type(exc).__name__}: {exc}"
        answer = {"error": {"type": type(exc).__name__, "message": message}}
        code = 2 if known else 1
    print(json.dumps(answer))
    return code


def _is_known(exc: BaseException) -> bool:
    return type(exc).__name__ in _known_errors()


if __name__ == "__main__":
    sys.exit(main())
