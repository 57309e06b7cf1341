"""`sandbox`, `demo`, `ui`: the pipeline on the embedded Litmos and C1 sandboxes.

The only commands that import the sandboxes, and only when they run: the product never
depends on them.
"""

from __future__ import annotations

import os
import shlex
import time
from pathlib import Path

import click
from rich.markup import escape

from litmos_pipeline.cli.common import (
    EXIT_CODES,
    OK,
    Failed,
    console,
    shown_path,
    stopped_by_signals,
)

PRESET_HELP = "sandbox tenant size (tiny, small, medium, large)"


def _preset(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    """A known tenant preset, checked before anything is started or deleted."""
    from litmos_sandbox.demo import check_preset

    try:
        check_preset(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    return value


preset_option = click.option("--preset", default="small", show_default=True,
                             callback=_preset, help=PRESET_HELP)


@click.command(epilog=EXIT_CODES)
@preset_option
def demo(preset: str) -> None:
    """Run everything once on the sandboxes: a sync, a C1 sync task, two access requests.

    Starts both sandboxes on 127.0.0.1, syncs through the Dagster instance in
    dagster_home/, starts the daemon, lets C1 ask for a sync and approve two requests,
    prints what Litmos, C1 and DuckDB saw, and stops everything. Its files are in
    data/demo/ (replaced on each run).
    """
    from litmos_sandbox import demo as demo_module

    try:
        raise SystemExit(demo_module.run_demo(preset))
    except demo_module.DemoError as exc:
        raise Failed(str(exc)) from None


@click.command(epilog=EXIT_CODES)
@preset_option
def ui(preset: str) -> None:
    """The Dagster UI (webserver and daemon) against the sandboxes, until Ctrl-C."""
    from litmos_sandbox import demo as demo_module

    try:
        raise SystemExit(demo_module.run_ui(preset))
    except demo_module.DemoError as exc:
        raise Failed(str(exc)) from None


@click.command(epilog=EXIT_CODES)
@preset_option
@click.option("--dir", "workdir", type=click.Path(file_okay=False, path_type=Path),
              help="where the sandboxes and the pipeline keep their files "
                   "[default: data/sandbox]")
def sandbox(preset: str, workdir: Path | None) -> None:
    """Start the Litmos and C1 sandboxes and print the settings to use against them.

    Serves until Ctrl-C. The settings are printed as `export` lines and written to
    env.sh in the sandbox folder: `source` it in another shell, then run `check`,
    `sync`, `status` or `ui` against the sandboxes.
    """
    from litmos_pipeline.settings import PROJECT_ROOT
    from litmos_sandbox import demo as demo_module

    workdir = (workdir or PROJECT_ROOT / "data" / "sandbox").resolve()
    out = console()
    with stopped_by_signals():
        out.print(f"starting the Litmos sandbox ({preset} tenant) and the C1 sandbox on 127.0.0.1")
        try:
            litmos, c1 = demo_module.start_sandboxes(workdir, preset)
        except demo_module.DemoError as exc:
            raise Failed(str(exc)) from None
        try:
            settings = demo_module.sandbox_settings(litmos, c1, workdir)
            exports = "".join(f"export {name}={shlex.quote(value)}\n"
                              for name, value in settings.items())
            env_file = workdir / "env.sh"
            fd = os.open(env_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.fchmod(fd, 0o600)  # the sandbox's key and C1 secret: this user's only
            with os.fdopen(fd, "w") as env_out:
                env_out.write(exports)
            out.print(escape(exports), end="")
            shown = shown_path(env_file)
            out.print(f"(also in {shown}: `source {shown}` in another shell, then "
                      "`litmos-pipeline check`; Ctrl-C here stops the sandboxes)")
            while True:
                for child in (litmos, c1):
                    if child.process.poll() is not None:
                        raise Failed(f"the {child.name} exited with code "
                                     f"{child.process.returncode}; its log: "
                                     f"{shown_path(child.log_path or workdir)}")
                time.sleep(0.5)
        except KeyboardInterrupt:
            out.print("stopping the sandboxes")
            raise SystemExit(OK) from None
        finally:
            c1.stop()
            litmos.stop()


