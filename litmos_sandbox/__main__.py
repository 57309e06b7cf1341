"""`python -m litmos_sandbox litmos|c1 ...`: run a sandbox server from the shell."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in ("litmos", "c1"):
        print("usage: python -m litmos_sandbox litmos|c1 [options] (--help)",
              file=sys.stderr)
        return 2
    if args[0] == "litmos":
        from litmos_sandbox.litmos import cli as litmos_cli

        return litmos_cli.main(args[1:])
    from litmos_sandbox.c1 import cli as c1_cli

    return c1_cli.main(args[1:])


if __name__ == "__main__":
    sys.exit(main())
