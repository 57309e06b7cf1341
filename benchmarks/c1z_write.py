"""Benchmark the c1z writer: synthetic c1_* tables in a temp DuckDB -> .c1z.

    python -m benchmarks.c1z_write --grants 2000000

Prints grants/s end to end (DuckDB read + encode + SQLite insert + index build + zstd),
seconds per stage, file sizes, peak RSS (absolute and above the pre-write baseline), and
CPU seconds plus the load average, because wall time on a shared 2-core machine swings
with whatever else runs.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import psutil

from litmos_pipeline.c1.c1z import DEFAULT_ZSTD_LEVEL, read_c1z
from litmos_pipeline.c1.ksuid import new_ksuid
from litmos_pipeline.warehouse.c1z_source import write_c1z

_USER_PROFILE = (
    "json_object('Id', id, 'UserName', login, 'FirstName', given, 'LastName', family,"
    " 'Active', active, 'AccessLevel', 'Learner', 'Points', i % 1000)::VARCHAR"
)


def build_tables(con: duckdb.DuckDBPyConnection, grants: int, users: int, courses: int,
                 teams: int) -> None:
    """Create c1_resource_types/resources/entitlements/grants shaped like the real transform."""
    con.execute("""
        CREATE TABLE c1_resource_types AS SELECT * FROM (VALUES
          ('user', 'User', [1], 'Litmos user'),
          ('team', 'Team', [2], 'Litmos team'),
          ('course', 'Course', []::INTEGER[], 'Litmos course')
        ) t(resource_type_id, display_name, traits, description)""")
    con.execute(f"""
        CREATE TABLE bench_users AS
        SELECT i, 'u' || substr(md5('u' || i::VARCHAR), 1, 11) AS id,
               'user' || i::VARCHAR || '@example.com' AS login,
               'Given' || (i % 977)::VARCHAR AS given, 'Family' || (i % 1301)::VARCHAR AS family,
               i % 10 <> 0 AS active
        FROM range({users}) r(i)""")
    con.execute(f"""
        CREATE TABLE c1_resources AS
        SELECT 'user' AS resource_type_id, id AS resource_id, 'user:' || id AS external_id,
               NULL::VARCHAR AS parent_resource_type_id, NULL::VARCHAR AS parent_resource_id,
               given || ' ' || family AS display_name, NULL::VARCHAR AS description,
               'user' AS trait, CASE WHEN active THEN 1 ELSE 2 END AS user_status,
               login AS user_login, login AS user_email, given AS user_given_name,
               family AS user_family_name,
               TIMESTAMP '2024-01-01' + to_seconds(i * 37) AS user_last_login,
               TIMESTAMP '2020-01-01' + to_seconds(i * 11) AS user_created_at,
               {_USER_PROFILE} AS profile
        FROM bench_users
        UNION ALL
        SELECT 'team', 't' || substr(md5('t' || i::VARCHAR), 1, 11),
               'team:t' || substr(md5('t' || i::VARCHAR), 1, 11),
               CASE WHEN i > 0 AND i % 5 = 0 THEN 'team' END,
               CASE WHEN i > 0 AND i % 5 = 0 THEN 't' || substr(md5('t0'), 1, 11) END,
               'Team ' || i::VARCHAR, 'Team number ' || i::VARCHAR, 'group',
               NULL, NULL, NULL, NULL, NULL, NULL, NULL,
               json_object('Id', i, 'Name', 'Team ' || i::VARCHAR)::VARCHAR
        FROM range({teams}) r(i)
        UNION ALL
        SELECT 'course', 'c' || substr(md5('c' || i::VARCHAR), 1, 11),
               'course:c' || substr(md5('c' || i::VARCHAR), 1, 11), NULL, NULL,
               'Course ' || i::VARCHAR, 'Course number ' || i::VARCHAR, NULL,
               NULL, NULL, NULL, NULL, NULL, NULL, NULL,
               json_object('Id', i, 'Code', 'C' || i::VARCHAR, 'Active', true)::VARCHAR
        FROM range({courses}) r(i)""")
    con.execute("""
        CREATE TABLE c1_entitlements AS
        SELECT r.resource_type_id || ':' || r.resource_id || ':' || s.slug AS entitlement_id,
               r.resource_type_id, r.resource_id, s.slug,
               r.display_name || ' ' || s.slug AS display_name,
               s.slug || ' of ' || r.display_name AS description,
               1 AS purpose, ['user'] AS grantable_to
        FROM c1_resources r
        JOIN (VALUES ('team', 'member'), ('team', 'leader'), ('team', 'admin'),
                     ('course', 'assigned'), ('course', 'completed'),
                     ('course', 'in_progress')) s(resource_type_id, slug)
          ON r.resource_type_id = s.resource_type_id""")
    # 90% course grants (assigned + completed|in_progress per enrolment), 10% team members.
    enrolments = (grants * 9 // 10) // 2
    memberships = grants - 2 * enrolments
    con.execute("""
        CREATE TABLE bench_courses AS
        SELECT row_number() OVER (ORDER BY resource_id) - 1 AS n, resource_id
        FROM c1_resources WHERE resource_type_id = 'course'""")
    con.execute("""
        CREATE TABLE bench_teams AS
        SELECT row_number() OVER (ORDER BY resource_id) - 1 AS n, resource_id
        FROM c1_resources WHERE resource_type_id = 'team'""")
    con.execute(f"""
        CREATE TABLE bench_pairs AS
        SELECT e % {courses} AS course_n, ((e // {courses}) * 7919 + (e % {courses}) * 31)
               % {users} AS user_n, 'enrol' AS kind, e AS k
        FROM range({enrolments}) r(e)
        UNION ALL
        SELECT m % {teams}, ((m // {teams}) * 7919 + (m % {teams}) * 17) % {users}, 'team', m
        FROM range({memberships}) r(m)""")
    con.execute("""
        CREATE TABLE bench_grants AS
        SELECT 'course' AS resource_type_id, c.resource_id, 'assigned' AS slug, u.id AS principal_id
        FROM bench_pairs p JOIN bench_courses c ON c.n = p.course_n
        JOIN bench_users u ON u.i = p.user_n WHERE p.kind = 'enrol'
        UNION ALL
        SELECT 'course', c.resource_id, CASE WHEN p.k % 3 = 0 THEN 'completed'
               ELSE 'in_progress' END, u.id
        FROM bench_pairs p JOIN bench_courses c ON c.n = p.course_n
        JOIN bench_users u ON u.i = p.user_n WHERE p.kind = 'enrol'
        UNION ALL
        SELECT 'team', t.resource_id, 'member', u.id
        FROM bench_pairs p JOIN bench_teams t ON t.n = p.course_n
        JOIN bench_users u ON u.i = p.user_n WHERE p.kind = 'team'""")
    con.execute("""
        CREATE TABLE c1_grants AS
        SELECT resource_type_id || ':' || resource_id || ':' || slug || ':user:' || principal_id
                 AS grant_id,
               resource_type_id || ':' || resource_id || ':' || slug AS entitlement_id,
               resource_type_id, resource_id, 'user' AS principal_type_id, principal_id
        FROM bench_grants""")
    for t in ("bench_users", "bench_courses", "bench_teams", "bench_pairs", "bench_grants"):
        con.execute(f"DROP TABLE {t}")


class _PeakRss:
    """Samples this process's RSS in a thread; the writer's peak above a baseline."""

    def __init__(self, interval: float = 0.02) -> None:
        self.proc = psutil.Process()
        self.interval = interval
        self.baseline = self.proc.memory_info().rss
        self.peak = self.baseline
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            self._stop.wait(self.interval)

    def __enter__(self) -> _PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.proc.memory_info().rss)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.c1z_write")
    parser.add_argument("--grants", type=int, default=2_000_000)
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--courses", type=int, default=2_000)
    parser.add_argument("--teams", type=int, default=500)
    parser.add_argument("--zstd-level", type=int, default=DEFAULT_ZSTD_LEVEL)
    parser.add_argument("--verify", action="store_true", help="read the file back and count")
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="c1z-bench-") as tmp:
        con = duckdb.connect(str(Path(tmp) / "bench.duckdb"))
        t0 = time.perf_counter()
        build_tables(con, args.grants, args.users, args.courses, args.teams)
        build_s = time.perf_counter() - t0
        n_grants = con.execute("SELECT count(*) FROM c1_grants").fetchone()[0]  # type: ignore[index]
        dest = Path(tmp) / "sync.c1z"
        ended = datetime.now(UTC)
        load_before = os.getloadavg()[0]
        with _PeakRss() as rss:
            cpu0 = psutil.Process().cpu_times()
            t0 = time.perf_counter()
            summary = write_c1z(dest, con, new_ksuid(), ended - timedelta(minutes=5), ended,
                                zstd_level=args.zstd_level)
            wall = time.perf_counter() - t0
            cpu1 = psutil.Process().cpu_times()
        cpu = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
        result = {
            "grants": n_grants,
            "counts": summary.counts,
            "seconds": round(wall, 2),
            "grants_per_second": round(n_grants / wall),
            "stage_seconds": {k: round(v, 2) for k, v in summary.stage_seconds.items()},
            "sqlite_mb": round(summary.sqlite_bytes / 1e6, 1),
            "c1z_mb": round(summary.size_bytes / 1e6, 1),
            # CPU seconds of all threads (DuckDB, SQLite sorter, zstd, Python): a cost figure
            # that other load on the machine does not inflate, unlike wall time.
            "cpu_seconds": round(cpu, 2),
            "grants_per_cpu_second": round(n_grants / cpu),
            "load_average_before": round(load_before, 2),
            "load_average_after": round(os.getloadavg()[0], 2),
            "peak_rss_mb": round(rss.peak / 1e6, 1),
            "peak_rss_above_baseline_mb": round((rss.peak - rss.baseline) / 1e6, 1),
            "build_tables_seconds": round(build_s, 2),
        }
        if args.verify:
            with read_c1z(dest) as contents:
                result["read_back_counts"] = contents.counts()
        con.close()
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:28} {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
