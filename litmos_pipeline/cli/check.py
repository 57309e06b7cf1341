"""`litmos-pipeline check`: every setting, one cheap Litmos call, one C1 token request."""

from __future__ import annotations

import os
from collections.abc import Sequence

import click
from rich.markup import escape

from litmos_pipeline.cli.common import CONFIG, FAILED, OK, console
from litmos_pipeline.cli.verdicts import FAIL, PASS, SKIP, WARN, Verdict, fail, ok, skip
from litmos_pipeline.errors import SettingsError

STYLES = {PASS: "green", WARN: "yellow", FAIL: "bold red", SKIP: "dim"}


@click.command()
@click.option("--probe-regions", is_flag=True,
              help="When Litmos refuses the key, ask the other Litmos regions' hosts with it, "
                   "to name a key of another region (sends the key to those hosts).")
def check(probe_regions: bool) -> None:
    """Validate every setting, then make one cheap Litmos call and one C1 token request.

    Prints a verdict per item: each settings group; the Litmos host, key and source (a
    user list of one record; with --probe-regions a refused key is also asked of the other
    Litmos regions, to name a key of another region), the courses in LITMOS_COURSE_IDS
    (one GET each, up to 20, else a sample); C1's credentials (parsed offline), a token
    request and the clock against C1's. Nothing is written. Exit 0 when nothing failed
    (warnings allowed), 1 when a live check failed, 2 when a setting is invalid.
    """
    from litmos_pipeline import settings as cfg

    verdicts: list[Verdict] = []
    loaded: dict[type[cfg.Settings], cfg.Settings] = {}
    for model in cfg.GROUPS:
        verdict, value = _settings_verdict(model)
        verdicts.append(verdict)
        if value is not None:
            loaded[model] = value
    settings_failed = any(v.failed for v in verdicts)
    verdicts += _litmos(loaded, probe_regions)
    verdicts += _c1(loaded)
    show(verdicts)
    if settings_failed:
        raise SystemExit(CONFIG)
    raise SystemExit(FAILED if any(v.failed for v in verdicts) else OK)


def _settings_verdict(model: type) -> tuple[Verdict, object | None]:
    from litmos_pipeline import settings as cfg

    item = f"settings: {model.__name__.removesuffix('Settings')}"
    names = [cfg.env_name(field) for field in model.model_fields.values()]
    given = [name for name in names if os.environ.get(name)]
    if model.optional and not cfg.c1_configured() and not given:
        return skip(item, "C1_CLIENT_ID and C1_CLIENT_SECRET are not set: no task loop "
                          "(syncs still write c1z files)"), None
    try:
        value = cfg.load(model)
    except SettingsError as exc:
        return fail(item, str(exc).removeprefix("Invalid settings: ")), None
    return ok(item, f"{len(names)} valid ({len(given)} set, {len(names) - len(given)} "
                    "default)"), value


def _litmos(loaded: dict, probe_regions: bool) -> list[Verdict]:
    from litmos_pipeline import settings as cfg
    from litmos_pipeline.cli import check_litmos
    from litmos_pipeline.litmos.budget import BUDGET_FILE

    litmos = loaded.get(cfg.LitmosSettings)
    if litmos is None:
        return [skip("Litmos", "not called: its settings are invalid")]
    warehouse = loaded.get(cfg.WarehouseSettings)
    budget = warehouse.duckdb_path.parent / BUDGET_FILE if warehouse is not None else None
    return check_litmos.probe(litmos, budget, probe_regions=probe_regions)


def _c1(loaded: dict) -> list[Verdict]:
    from litmos_pipeline import settings as cfg
    from litmos_pipeline.cli import check_c1

    c1 = loaded.get(cfg.C1Settings)
    if c1 is None:
        return []  # not configured (skipped above) or invalid (failed above)
    return check_c1.probe(c1)


def show(verdicts: Sequence[Verdict]) -> None:
    out = console()
    width = max(len(v.item) for v in verdicts)
    for v in verdicts:
        style = STYLES[v.outcome]
        out.print(f"[{style}]{v.outcome:<8}[/{style}] {escape(v.item):<{width}}  "
                  f"{escape(v.detail)}")
    failed = sum(v.failed for v in verdicts)
    warned = sum(v.outcome == WARN for v in verdicts)
    out.print(f"{failed} failed, {warned} warning(s), "
              f"{sum(v.outcome == PASS for v in verdicts)} ok")

