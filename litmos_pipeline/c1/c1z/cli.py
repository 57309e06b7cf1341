"""The operators' command line: python -m litmos_pipeline.c1.c1z stats|resources|... FILE."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from litmos_pipeline.c1.c1z.errors import C1zError
from litmos_pipeline.c1.c1z.reader import C1zContents, read_c1z
from litmos_pipeline.c1.proto import connector_v2_pb2 as pb


def _trait_names(annotations: Iterable[Any]) -> str:
    names = [a.type_url.rsplit(".", 1)[-1] for a in annotations if a.type_url]
    return ",".join(names)


def _cmd_stats(c: C1zContents, out: Callable[[str], None]) -> None:
    for run in c.sync_runs:
        marker = "*" if run.sync_id == c.sync_id else " "
        out(
            f"{marker} sync {run.sync_id} type={run.sync_type} started={run.started_at}"
            f" ended={run.ended_at or '(unfinished)'}"
        )
    for name, n in c.counts().items():
        out(f"{name}\t{n}")
    for type_id, by_kind in c.counts_by_resource_type().items():
        out(
            f"  {type_id}\tresources={by_kind['resources']}"
            f"\tentitlements={by_kind['entitlements']}\tgrants={by_kind['grants']}"
        )


def _cmd_resources(c: C1zContents, out: Callable[[str], None]) -> None:
    for external_id, res in c.resources():
        out(f"{external_id}\t{res.display_name}\t{_trait_names(res.annotations)}")


def _cmd_entitlements(c: C1zContents, out: Callable[[str], None]) -> None:
    for external_id, ent in c.entitlements():
        purpose = pb.Entitlement.PurposeValue.Name(ent.purpose)
        out(f"{external_id}\t{ent.display_name}\t{purpose}")


def _cmd_grants(c: C1zContents, out: Callable[[str], None]) -> None:
    for external_id, grant in c.grants():
        principal = grant.principal.id
        out(
            f"{external_id}\t{grant.entitlement.id}"
            f"\t{principal.resource_type}:{principal.resource}"
        )


_COMMANDS: dict[str, Callable[[C1zContents, Callable[[str], None]], None]] = {
    "stats": _cmd_stats,
    "resources": _cmd_resources,
    "entitlements": _cmd_entitlements,
    "grants": _cmd_grants,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m litmos_pipeline.c1.c1z", description="Inspect a version-1 c1z file."
    )
    parser.add_argument("command", choices=sorted(_COMMANDS))
    parser.add_argument("file", type=Path)
    parser.add_argument("--sync-id", help="sync to show (default: newest finished)")
    args = parser.parse_args(argv)
    try:
        with read_c1z(args.file, sync_id=args.sync_id) as contents:
            _COMMANDS[args.command](contents, print)
    except C1zError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # `... grants FILE | head` closes stdout early; that is not an error.
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        return 0
    return 0
