"""Ids of a c1z in byte order, grants per entitlement, and the merge diff of two id streams."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import duckdb
import pytest

from litmos_pipeline.c1.c1z import C1zError, read_c1z
from litmos_pipeline.c1.c1z.diff import diff_sorted
from litmos_pipeline.warehouse.c1z_source import write_c1z
from tests.c1.test_c1z import ENDED, GRANTS, STARTED, SYNC_ID, build_tables


def test_diff_counts_both_sides_with_examples() -> None:
    diff = diff_sorted(["a", "b", "d", "e", "f"], ["b", "c", "e"], examples=2)
    assert (diff.both, diff.only_left, diff.only_right) == (2, 3, 1)
    assert diff.left_examples == ["a", "d"] and diff.right_examples == ["c"]
    assert not diff.same
    assert diff_sorted([], []).same and diff_sorted(["x"], ["x"]).both == 1


def test_diff_refuses_ids_out_of_order() -> None:
    with pytest.raises(C1zError, match="not in order"):
        diff_sorted(["b", "a"], ["a"])


@pytest.fixture
def two_files(tmp_path: Path) -> tuple[Path, Path]:
    paths = []
    for name, grants in (("full", GRANTS), ("fewer", GRANTS[:-3])):
        con = duckdb.connect()
        build_tables(con, grants)
        write_c1z(tmp_path / f"{name}.c1z", con, SYNC_ID, STARTED, ENDED)
        con.close()
        paths.append(tmp_path / f"{name}.c1z")
    return paths[0], paths[1]


def test_external_ids_come_in_python_order_even_for_odd_characters(
        two_files: tuple[Path, Path]) -> None:
    with read_c1z(two_files[0]) as contents:
        for table in ("v1_resource_types", "v1_resources", "v1_entitlements", "v1_grants"):
            ids = list(contents.external_ids(table, batch_rows=3))
            assert ids == sorted(ids) and len(ids) == contents.counts()[table[3:]]
        by_entitlement = contents.grants_by_entitlement()
    assert by_entitlement == dict(Counter(f"{t}:{r}:{s}" for t, r, s, _ in GRANTS))


def test_two_files_differ_by_the_grants_left_out(two_files: tuple[Path, Path]) -> None:
    with read_c1z(two_files[0]) as full, read_c1z(two_files[1]) as fewer:
        grants = diff_sorted(full.external_ids("v1_grants"), fewer.external_ids("v1_grants"))
        resources = diff_sorted(full.external_ids("v1_resources"),
                                fewer.external_ids("v1_resources"))
    left_out = {f"{t}:{r}:{s}:user:{u}" for t, r, s, u in GRANTS[-3:]}
    assert grants.only_left == 3 and set(grants.left_examples) == left_out
    assert grants.only_right == 0 and resources.same
