"""Console entry points: `litmos-pipeline demo|ui`."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="litmos-pipeline")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run the pipeline end to end on the sandboxes")
    demo.add_argument("--preset", default="small", help="sandbox tenant (tiny/small/medium)")
    ui = sub.add_parser("ui", help="the Dagster UI against the sandboxes")
    ui.add_argument("--preset", default="small")
    args = parser.parse_args(argv)
    # The sandboxes are imported only here: production code never depends on them.
    from litmos_sandbox import demo as demo_module

    if args.command == "demo":
        return demo_module.run_demo(args.preset)
    return demo_module.run_ui(args.preset)


if __name__ == "__main__":
    sys.exit(main())
