"""The arrows between rooms point down: the C1 room imports no database and no runner."""

from __future__ import annotations

import ast
from pathlib import Path

import litmos_pipeline

PACKAGE = Path(litmos_pipeline.__file__).parent
# What c1/ must not import: DuckDB, the warehouse room, the worker runner, the joins above
# both rooms, and Dagster's definitions.
C1_FORBIDDEN = ("duckdb", "litmos_pipeline.warehouse", "litmos_pipeline.workers",
                "litmos_pipeline.c1z_process", "litmos_pipeline.defs", "dagster")


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_c1_knows_no_duckdb_warehouse_or_worker_runner() -> None:
    offending = {
        str(path.relative_to(PACKAGE)): sorted(
            name for name in imported_modules(path)
            if any(name == bad or name.startswith(bad + ".") for bad in C1_FORBIDDEN))
        for path in sorted((PACKAGE / "c1").rglob("*.py"))
    }
    assert {file: names for file, names in offending.items() if names} == {}


def test_warehouse_imports_neither_the_runner_nor_the_joins() -> None:
    runner = ("litmos_pipeline.workers", "litmos_pipeline.c1z_process", "litmos_pipeline.defs")
    offending = {
        str(path.relative_to(PACKAGE)): sorted(
            name for name in imported_modules(path)
            if any(name == bad or name.startswith(bad + ".") for bad in runner))
        for path in sorted((PACKAGE / "warehouse").rglob("*.py"))
    }
    assert {file: names for file, names in offending.items() if names} == {}
