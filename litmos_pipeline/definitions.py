"""The code location Dagster loads (workspace.yaml, [tool.dagster] and [tool.dg] name it).

The definitions live in `defs/`, one Definitions per concern (sync, publish,
provisioning, resources), found and merged by Dagster's defs-folder loader. This module
adds what every process loading them must do first, and one warning.
"""

import logging
from pathlib import Path

import dagster as dg

from litmos_pipeline import files
from litmos_pipeline.defs.resources import C1Resource

log = logging.getLogger(__name__)


def warn_if_c1_malformed(c1: C1Resource) -> None:
    """One warning line at load, not a traceback on every sensor tick."""
    problem = c1.problem()
    if problem:
        log.warning("%s; C1 tasks cannot be served until it is fixed (syncs still run and "
                    "write c1z files)", problem)


# Every process that loads these definitions (code servers, run workers, the UI) creates
# files with LITMOS_FILE_MODE: Dagster's compute logs and event log carry run output
# and previews of personal data too, and are created before any file of ours.
files.protect_process()
defs = dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
warn_if_c1_malformed(defs.resources["c1"])
