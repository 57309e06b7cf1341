"""`python -m litmos_pipeline.cli`: the same command line as `litmos-pipeline` (the Makefile's)."""

import sys

from litmos_pipeline.cli import main

sys.exit(main())
