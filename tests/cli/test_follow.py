"""The figures beside the progress bar: pace over the last minute, time left at that pace."""

from __future__ import annotations

import dagster as dg

from litmos_pipeline.cli.follow import RunFollower, duration
from litmos_pipeline.warehouse.progress import ExtractProgress


def log_line(at: float, pages: int, floor: int) -> dg.EventLogEntry:
    message = ExtractProgress(lists_done=0, lists=10, rows=pages * 100, pages=pages,
                              floor=floor, sent=pages).message()
    return dg.EventLogEntry(error_info=None, level=20, user_message=message, run_id="r",
                            timestamp=at, step_key="litmos_extract", job_name="litmos_sync",
                            dagster_event=None)


def test_pace_and_time_left_follow_the_last_minute() -> None:
    follower = RunFollower()
    assert follower.per_minute() is None and follower.seconds_left() is None
    # 90 a minute for two minutes, then 30 a minute: the pace shown is the recent one.
    for second in range(0, 121, 10):
        follower.take(log_line(1000.0 + second, pages=second * 90 // 60, floor=400))
    assert round(follower.per_minute() or 0) == 90
    assert round(follower.seconds_left() or 0) == round((400 - 180) * 60 / 90)
    for second in range(130, 251, 10):
        follower.take(log_line(1000.0 + second, pages=180 + (second - 120) // 2, floor=400))
    assert 29 <= (follower.per_minute() or 0) <= 31
    assert "245/400 req (floor)" in follower.figures()
    assert follower.changed and follower.progress is not None


def test_other_log_lines_are_not_progress() -> None:
    follower = RunFollower()
    entry = log_line(1.0, 1, 2)
    follower.take(dg.EventLogEntry(error_info=None, level=20, user_message="staged 10 users",
                                   run_id="r", timestamp=1.0, step_key=entry.step_key,
                                   job_name="litmos_sync", dagster_event=None))
    assert follower.progress is None and follower.figures() == ""


def test_durations_read_short() -> None:
    assert [duration(s) for s in (None, 5, 65, 3700)] == ["—", "5s", "1m05s", "1h01m"]
