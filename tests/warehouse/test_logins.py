"""The last-login look-back: its windows, each at most Litmos' 7 days."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from litmos_pipeline.warehouse.logins import windows

NOW = datetime(2026, 12, 3, 12, 0, 0, 500)


@pytest.mark.parametrize(("days", "count"), [(0, 0), (1, 1), (7, 1), (8, 2), (91, 13)])
def test_windows_cover_the_look_back_in_7_day_steps(days: int, count: int) -> None:
    got = windows(NOW, days)
    assert len(got) == count
    if not got:
        return
    to = NOW.replace(microsecond=0) + timedelta(minutes=1)  # `to` lies ahead, as Litmos needs
    assert got[0][1] == to and got[-1][0] == to - timedelta(days=days)
    for newer, older in zip(got, got[1:], strict=False):
        assert older[1] == newer[0]  # no gap, no overlap
    assert all(timedelta(0) < until - since <= timedelta(days=7) for since, until in got)
