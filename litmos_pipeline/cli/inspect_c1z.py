"""`litmos-pipeline inspect`: what a c1z holds, and how it differs from another or DuckDB."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import Any

import click
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from litmos_pipeline.cli.common import (
    EXIT_CODES,
    FAILED,
    OK,
    ConfigError,
    Failed,
    console,
    load,
    shown_path,
)

TABLES = ("v1_resource_types", "v1_resources", "v1_entitlements", "v1_grants")
# The warehouse's snapshot table and id column for each c1z record table.
DUCKDB_IDS = {"v1_resource_types": ("c1_resource_types", "resource_type_id"),
              "v1_resources": ("c1_resources", "external_id"),
              "v1_entitlements": ("c1_entitlements", "entitlement_id"),
              "v1_grants": ("c1_grants", "grant_id")}
LATEST = "latest.c1z"


@click.command(epilog=EXIT_CODES)
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--latest", is_flag=True,
              help=f"the newest c1z the pipeline kept ({LATEST} in C1Z_OUTPUT_DIR)")
@click.option("--sample", default=5, show_default=True, type=click.IntRange(0, 1000),
              help="records of each kind to show")
@click.option("--diff", "other", type=click.Path(dir_okay=False, path_type=Path),
              help="compare with another c1z: ids only in one or the other")
@click.option("--against-duckdb", is_flag=True,
              help="compare with the warehouse's current snapshot (LITMOS_DUCKDB_PATH)")
@click.option("--sync-id", help="the sync to read [default: the newest finished]")
def inspect(file: Path | None, latest: bool, sample: int, other: Path | None,
            against_duckdb: bool, sync_id: str | None) -> None:
    """Counts per resource type, entitlement and grant of a c1z, and a sample of each.

    FILE, or --latest for the newest c1z the pipeline kept. With --diff OTHER or
    --against-duckdb, also which ids only one side has (exit 1 when they differ).
    """
    from litmos_pipeline.c1.c1z import C1zError, read_c1z

    path = _target(file, latest)
    out = console()
    try:
        with read_c1z(path, sync_id=sync_id) as contents:
            _describe(out, path, contents, sample)
            differs = False
            if other is not None:
                differs |= _diff_files(out, contents, _existing(other))
            if against_duckdb:
                differs |= _diff_duckdb(out, contents)
    except C1zError as exc:
        raise Failed(str(exc)) from None
    raise SystemExit(FAILED if differs else OK)


def _target(file: Path | None, latest: bool) -> Path:
    if (file is None) == (not latest):
        raise click.UsageError("give a FILE or --latest (one of them)")
    if file is not None:
        return _existing(file)
    from litmos_pipeline import settings as cfg

    folder = load(cfg.PublishSettings).c1z_output_dir
    if (folder / LATEST).exists():
        return folder / LATEST
    kept = sorted(folder.glob("*.c1z"), key=lambda p: p.stat().st_mtime) if folder.is_dir() \
        else []
    if not kept:
        raise ConfigError(f"no c1z in {shown_path(folder)} (C1Z_OUTPUT_DIR): no sync has "
                          "written one there yet (the demo's are in data/demo/c1z)")
    return kept[-1]


def _existing(path: Path) -> Path:
    if not path.is_file():
        raise ConfigError(f"no such file: {shown_path(path)}")
    return path


def _describe(out: Console, path: Path, c: Any, sample: int) -> None:
    run = next((r for r in c.sync_runs if r.sync_id == c.sync_id), None)
    out.print(f"[bold]{escape(shown_path(path))}[/bold]: {path.stat().st_size:,} bytes, sync "
              f"{c.sync_id}" + (f" ({run.sync_type}, {run.started_at} .. {run.ended_at})"
                                if run else ""))
    out.print("records: " + ", ".join(f"{name} {n:,}" for name, n in c.counts().items()))
    types = Table("resource type", "resources", "entitlements", "grants",
                  box=box.SIMPLE_HEAD, show_edge=False)
    for type_id, n in c.counts_by_resource_type().items():
        types.add_row(escape(type_id), *(f"{n[k]:,}" for k in ("resources", "entitlements",
                                                              "grants")))
    out.print(types)
    by_kind: Counter[tuple[str, str]] = Counter()
    entitlements: Counter[tuple[str, str]] = Counter()
    for entitlement_id, n in c.grants_by_entitlement().items():
        kind = (entitlement_id.split(":", 1)[0], entitlement_id.rsplit(":", 1)[-1])
        by_kind[kind] += n
        entitlements[kind] += 1
    slugs = Table("entitlement", "entitlements with grants", "grants",
                  box=box.SIMPLE_HEAD, show_edge=False)
    for (type_id, slug), n in sorted(by_kind.items()):
        slugs.add_row(escape(f"{type_id} {slug}"), f"{entitlements[(type_id, slug)]:,}",
                      f"{n:,}")
    out.print(slugs)
    if sample:
        _sample(out, c, sample)


def _sample(out: Console, c: Any, n: int) -> None:
    out.print(f"[bold]sample[/bold] (the first {n} of each, by id)")
    for external_id, resource in islice(c.resources(), n):
        out.print(f"  resource     {escape(external_id)}  {escape(resource.display_name)}")
    for external_id, entitlement in islice(c.entitlements(), n):
        out.print(f"  entitlement  {escape(external_id)}  {escape(entitlement.display_name)}")
    for external_id, grant in islice(c.grants(), n):
        principal = grant.principal.id
        out.print(f"  grant        {escape(external_id)}  ({escape(principal.resource_type)} "
                  f"{escape(principal.resource)})")


def _diff_files(out: Console, contents: Any, other_path: Path) -> bool:
    from litmos_pipeline.c1.c1z import read_c1z
    from litmos_pipeline.c1.c1z.diff import diff_sorted

    with read_c1z(other_path) as other:
        out.print(f"[bold]diff[/bold] against {escape(shown_path(other_path))} (sync "
                  f"{other.sync_id}): only in this file / only in the other")
        diffs = {table: diff_sorted(contents.external_ids(table), other.external_ids(table))
                 for table in TABLES}
    return _show_diffs(out, diffs, "this file", "the other")


def _diff_duckdb(out: Console, contents: Any) -> bool:
    from litmos_pipeline import settings as cfg
    from litmos_pipeline.c1.c1z.diff import diff_sorted
    from litmos_pipeline.warehouse import store

    db = load(cfg.WarehouseSettings).duckdb_path
    if not db.exists():
        raise ConfigError(f"no warehouse file at {shown_path(db)} (LITMOS_DUCKDB_PATH)")
    with store.opened(db, read_only=True, lock_timeout_s=10.0) as con:
        row = con.execute("SELECT sync_id FROM sync_runs ORDER BY finished_at DESC LIMIT 1"
                          ).fetchone() if store.table_exists(con, "sync_runs") else None
        current = row[0] if row else "none"
        note = ("the same sync" if current == contents.sync_id else
                f"the warehouse's snapshot is sync {current}, the file's {contents.sync_id}")
        out.print(f"[bold]diff[/bold] against {escape(shown_path(db))} ({note}; provisioning "
                  "since the sync changes its grants): only in the file / only in DuckDB")
        diffs = {table: diff_sorted(contents.external_ids(table), duckdb_ids(con, *source))
                 for table, source in DUCKDB_IDS.items()}
    return _show_diffs(out, diffs, "the file", "DuckDB")


def duckdb_ids(con: Any, table: str, column: str, batch_rows: int = 10_000) -> Iterator[str]:
    """A snapshot table's ids in byte order, as the c1z's are (BLOB order is bytewise)."""
    cursor = con.cursor()
    try:
        cursor.execute(f"SELECT {column} FROM {table} ORDER BY encode({column})")
        while rows := cursor.fetchmany(batch_rows):
            for (value,) in rows:
                yield value
    finally:
        cursor.close()


def _show_diffs(out: Console, diffs: dict[str, Any], left: str, right: str) -> bool:
    for table, d in diffs.items():
        name = table.removeprefix("v1_")
        line = f"  {name}: {d.both:,} in both, {d.only_left:,} only in {left}"
        if d.left_examples:
            line += f" (e.g. {', '.join(d.left_examples)})"
        line += f", {d.only_right:,} only in {right}"
        if d.right_examples:
            line += f" (e.g. {', '.join(d.right_examples)})"
        out.print(escape(line))
    same = all(d.same for d in diffs.values())
    out.print("  the same ids" if same else "  [yellow]they differ[/yellow]")
    return not same
