"""``python -m litmos_pipeline.c1.c1z``: the operators' command line (see `cli`)."""

import sys

from litmos_pipeline.c1.c1z.cli import main

sys.exit(main())
