"""`litmos-pipeline`: the operators' command line.

One module per command group: `check`, `run` (sync, refresh), `status`, `inspect_c1z` (inspect)
and `sandboxes` (sandbox, demo, ui: the only modules that import the sandboxes, and only
inside the commands). Modules import Dagster, DuckDB and the rest inside their commands,
so `--help` answers at once.
"""

from __future__ import annotations

import click

from litmos_pipeline.cli.check import check
from litmos_pipeline.cli.common import EXIT_CODES
from litmos_pipeline.cli.inspect_c1z import inspect
from litmos_pipeline.cli.run import refresh, sync
from litmos_pipeline.cli.sandboxes import demo, sandbox, ui
from litmos_pipeline.cli.status import status

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(context_settings=CONTEXT, epilog=EXIT_CODES)
def cli() -> None:
    """Litmos -> ConductorOne as Dagster assets: check the settings, run a sync, see what
    the pipeline did, inspect c1z files, or try it all on the embedded sandboxes.

    Settings are environment variables (see the README's table); runs go through the
    Dagster instance in DAGSTER_HOME (default: the project's dagster_home/), so they show
    in the Dagster UI.
    """


for command in (check, sync, refresh, status, inspect, sandbox, demo, ui):
    cli.add_command(command)


def main(argv: list[str] | None = None) -> int:
    """The console script: the command's exit code (see EXIT_CODES)."""
    try:
        cli.main(args=argv, prog_name="litmos-pipeline")
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            return exc.code or 0
        click.echo(exc.code, err=True)
        return 1
    return 0
