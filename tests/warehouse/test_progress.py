"""The extract's progress lines: a running request floor that never overstates the cost."""

from __future__ import annotations

from pathlib import Path

import pytest

from litmos_pipeline.litmos.client import PAGE_SIZE, LitmosClient
from litmos_pipeline.warehouse import extract, store
from litmos_pipeline.warehouse.progress import ExtractProgress
from litmos_sandbox.litmos import LitmosSandbox
from litmos_sandbox.litmos.tenant import Tenant, TenantSpec


def pages(n: int) -> int:
    return n // PAGE_SIZE + 1


def test_a_progress_line_parses_back_to_its_figures() -> None:
    figures = ExtractProgress(lists_done=3, lists=7, rows=4500, pages=9, floor=13, sent=10)
    assert ExtractProgress.parse(figures.message()) == figures
    assert ExtractProgress.parse("staged 10 users in 15 requests") is None


def test_the_floor_grows_to_the_tenants_exact_floor(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    # 2,500 users: the user list takes three pages, so the floor is learnt as it is read.
    tenant = Tenant.generate(TenantSpec(users=2_500, teams=3, courses=2, enrollments=40))
    monkeypatch.setattr(extract, "REPORT_EVERY_S", 0.0)  # a line for every page
    lines: list[str] = []
    with LitmosSandbox(tenant, rate_limit_per_minute=None) as sandbox, \
            LitmosClient(sandbox.base_url, sandbox.api_key, "pytest",
                         requests_per_minute=None) as client, \
            store.opened(tmp_path / "p.duckdb") as con:
        extract.load_all(con, client, roles=("member",), progress=lines.append)
        sent = client.stats.requests
    reports = [ExtractProgress.parse(line) for line in lines]
    assert reports and all(reports)
    floors = [r.floor for r in reports if r]
    exact = (pages(len(tenant.users())) + pages(len(tenant.teams()))
             + pages(len(tenant.courses()))
             + sum(pages(len(tenant.team_members(t.id, active_only=True)))
                   for t in tenant.teams())
             + sum(pages(tenant.course_enrollee_count(c.id)) for c in tenant.courses()))
    assert floors == sorted(floors) and max(floors) == exact
    last = reports[-1]
    assert last is not None and last.pages == last.floor == last.sent == sent == exact
    assert last.lists_done == last.lists
    assert any(r.floor < exact for r in reports if r)  # it was learnt, not known up front
