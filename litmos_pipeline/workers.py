"""Run a heavy step in a lean child process, so each process stays within its memory.

A Dagster run process carries Dagster, gRPC and the pipeline (~175 MB before any work),
and memory it has used stays with it until it exits. The heavy DuckDB steps (the model
build and swap, the c1z write) each run in a fresh interpreter that imports only what
they need (~70 MB), and give everything back when they exit.

`call(func, *args, **kwargs)` takes the function itself (a module-level one), so an
editor, a type checker (ParamSpec) and a rename follow every call. The child gets the
pickled ``(func, args, kwargs)`` on stdin (pickle names a function by module and
qualified name, which the child imports) and answers a pickled ``("result", value)`` or
``("error", type, message)`` on stdout, which carries nothing else: arguments and
results are typed values (paths, datetimes, dataclasses), not JSON dicts. Both ends are
this package's own code on one interpreter, so pickle carries nothing a caller did not
hand over. Errors the pipeline knows are raised again in the parent with their own type.

The child needs no credential, so it gets no environment beyond what Python and DuckDB
need to run (`child_environment`): no LITMOS_API_KEY, C1_CLIENT_SECRET or anything else.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from typing import Any, ParamSpec, TypeVar

STDERR_TAIL_CHARS = 4000
# What a worker may inherit: the interpreter's and the locale's variables, the home and
# temp folders (DuckDB's extension and spill folders), the venv, and LITMOS_FILE_MODE
# (the files a worker writes get it). Everything else stays with the parent.
ENV_ALLOWED = frozenset({"PATH", "HOME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TEMP", "TMP",
                         "VIRTUAL_ENV", "SYSTEMROOT", "LITMOS_FILE_MODE"})
ENV_ALLOWED_PREFIXES = ("LC_", "PYTHON")

P = ParamSpec("P")
R = TypeVar("R")


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


def _name(func: Callable[..., Any]) -> str:
    """The function's module:qualname, if the child can import it; else TypeError."""
    module, qualname = getattr(func, "__module__", None), getattr(func, "__qualname__", "")
    if not module or module == "__main__" or "<" in qualname:
        raise TypeError(f"a worker runs module-level functions only, not {func!r}")
    return f"{module}:{qualname}"


def call(func: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """`func(*args, **kwargs)` in a child process; its result.

    Arguments and result must pickle. If the caller is interrupted (a run being
    terminated), the child is killed; if the parent dies, the child exits by itself.
    """
    name = _name(func)
    request = pickle.dumps((func, args, kwargs))
    with subprocess.Popen([sys.executable, "-m", __name__], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          env=child_environment()) as child:
        try:
            out, err = child.communicate(request)
        except BaseException:
            child.kill()
            raise
    answer = _loads(out)
    if child.returncode == 0 and answer[:1] == ("result",):
        return answer[1]  # type: ignore[no-any-return]
    _, error_type, message = answer if answer[:1] == ("error",) else (None, "", "")
    known = _known_errors().get(error_type)
    if known is not None:
        raise known(message)
    tail = err.decode(errors="replace")[-STDERR_TAIL_CHARS:].strip()
    reason = message or tail or "no output"
    raise WorkerError(f"{name} failed in its worker process "
                      f"(exit code {child.returncode}): {reason}")


def _loads(data: bytes) -> tuple[Any, ...]:
    try:
        answer = pickle.loads(data) if data else ()
    except Exception:  # a child killed mid-answer: its exit code and stderr say why
        return ()
    return answer if isinstance(answer, tuple) else ()


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
    # stdout carries the answer only: whatever the function or a library prints (at the
    # Python or the C level) goes to stderr instead.
    answer_out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    try:
        func, args, kwargs = pickle.loads(sys.stdin.buffer.read())
        answer: tuple[Any, ...] = ("result", func(*args, **kwargs))
        data, code = pickle.dumps(answer), 0
    except Exception as exc:
        traceback.print_exc()
        known = _is_known(exc)
        message = f"{exc}" if known else f"{type(exc).__name__}: {exc}"
        data = pickle.dumps(("error", type(exc).__name__, message))
        code = 2 if known else 1
    sys.stdout.flush()
    with answer_out:
        answer_out.write(data)
    return code


def _is_known(exc: BaseException) -> bool:
    return type(exc).__name__ in _known_errors()


if __name__ == "__main__":
    sys.exit(main())
