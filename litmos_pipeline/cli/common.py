"""What every command shares: exit codes, expected errors, the console, settings, Dagster.

Exit codes: 0 ok; 1 a check or a run failed (or, for status and inspect, something needs
attention or differs); 2 a usage or configuration error (a bad or missing setting, a
missing file, no sync yet). An expected error prints one line naming the setting or the
file, never a traceback.
"""

from __future__ import annotations

import os
import re
import signal
import threading
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import click
from rich.console import Console

from litmos_pipeline.errors import SettingsError

if TYPE_CHECKING:
    import dagster as dg

    from litmos_pipeline import settings as cfg

OK, FAILED, CONFIG = 0, 1, 2
EXIT_CODES = ("Exit codes: 0 ok; 1 a check or run failed (status: needs attention; inspect "
              "--diff/--against-duckdb: they differ); 2 usage or configuration error "
              "(bad setting, missing file, nothing synced yet).")

# Dagster notices that are no news to an operator, in the processes the commands start:
# `dagster job execute` is superseded by `dg launch` (which takes no run tags, so the
# accept tag needs it), and Dagster's own sensors pass a beta parameter. Literal message
# prefixes: a category filter would have to import Dagster before Python starts.
QUIET_WARNINGS = (
    "ignore:Function `job_execute_command` is superseded",
    "ignore:Parameter `owners` of initializer `SensorDefinition.__init__`",
)

S = TypeVar("S")


class ConfigError(click.ClickException):
    """A usage or configuration error: exit 2, one line, no traceback."""

    exit_code = CONFIG


class Failed(click.ClickException):
    """A check or a run failed: exit 1, one line, no traceback."""

    exit_code = FAILED


def console(*, stderr: bool = False) -> Console:
    # Wide enough for a line not to wrap when the output is a file or a pipe.
    return Console(stderr=stderr, highlight=False, soft_wrap=not os.isatty(1))


def load(model: type[cfg.S], values: Mapping[str, str] | None = None) -> cfg.S:
    """A settings group, or exit 2 naming the variables at fault."""
    from litmos_pipeline import settings as cfg

    try:
        return cfg.load(model, values)
    except SettingsError as exc:
        raise ConfigError(str(exc)) from None


def quiet_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """`env` (default: this process's) with Dagster's notices silenced for a child."""
    base = dict(os.environ if env is None else env)
    filters = [f for f in base.get("PYTHONWARNINGS", "").split(",") if f]
    base["PYTHONWARNINGS"] = ",".join(dict.fromkeys([*filters, *QUIET_WARNINGS]))
    return base


def silence_dagster_notices() -> None:
    """The same filters in this process (it reads the instance and the definitions)."""
    for spec in QUIET_WARNINGS:
        warnings.filterwarnings("ignore", message=re.escape(spec.removeprefix("ignore:")))


def dagster_home(env: Mapping[str, str] | None = None) -> Path:
    """DAGSTER_HOME, or the project's dagster_home/ as `make` sets it; exit 2 if neither."""
    from litmos_pipeline.settings import PROJECT_ROOT

    value = (os.environ if env is None else env).get("DAGSTER_HOME")
    home = Path(value) if value else PROJECT_ROOT / "dagster_home"
    if not (home / "dagster.yaml").is_file():
        where = "DAGSTER_HOME" if value else "DAGSTER_HOME is not set and"
        raise ConfigError(f"{where} {home} has no dagster.yaml: set DAGSTER_HOME to the "
                          "Dagster instance's folder (the project's is dagster_home/)")
    return home


def instance(home: Path) -> dg.DagsterInstance:
    """The Dagster instance in `home` (runs launched from here show in the UI)."""
    silence_dagster_notices()
    import dagster as dg

    return dg.DagsterInstance.from_config(str(home))


def shown_path(path: Path) -> str:
    """A path relative to the working directory when it is under it."""
    absolute = Path(os.path.abspath(path))  # not resolved: .venv/bin/python stays itself
    try:
        return str(absolute.relative_to(Path.cwd()))
    except ValueError:
        return str(absolute)


def last_line(log_path: Path | None) -> str:
    """The last line a process wrote to its log: its reason, when it ended early."""
    if log_path is None or not log_path.exists():
        return ""
    with open(log_path, "rb") as log:
        log.seek(max(0, log.seek(0, os.SEEK_END) - 4096))
        lines = [line.strip() for line in log.read().decode(errors="replace").splitlines()]
    return next((line for line in reversed(lines) if line), "")


@contextmanager
def stopped_by_signals() -> Iterator[None]:
    """SIGTERM as Ctrl-C (KeyboardInterrupt), and Ctrl-C even where a shell ignored it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
