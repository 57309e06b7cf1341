"""Imports point one way: no circle inside the C1 sandbox (type-only imports count too),
and the product imports nothing from the sandboxes but in the commands that start them."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def _graph(package: str) -> dict[str, set[str]]:
    folder = ROOT.joinpath(*package.split("."))
    modules = {f"{package}.{p.stem}": p for p in folder.glob("*.py") if p.stem != "__init__"}
    return {name: _imports(path) & modules.keys() for name, path in modules.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*path, node, nxt]
            if nxt not in state and (found := visit(nxt, [*path, node])):
                return found
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node, [])):
            return found
    return None


def test_c1_sandbox_modules_import_one_way() -> None:
    assert _cycle(_graph("litmos_sandbox.c1")) is None


def test_catalog_and_c1_modules_import_one_way() -> None:
    for package in ("litmos_pipeline.catalog", "litmos_pipeline.c1"):
        assert _cycle(_graph(package)) is None, package


def _module_level_imports(path: Path) -> set[str]:
    """Imports run when the module loads (not those inside a function)."""
    names: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_product_imports_no_sandbox_but_lazily_in_the_sandbox_commands() -> None:
    files = list(ROOT.joinpath("litmos_pipeline").rglob("*.py"))
    offenders = {str(p.relative_to(ROOT)) for p in files
                 if any(m.startswith("litmos_sandbox") for m in _imports(p))}
    assert offenders <= {"litmos_pipeline/cli/sandboxes.py"}
    eager = {str(p.relative_to(ROOT)) for p in files
             if any(m.startswith("litmos_sandbox") for m in _module_level_imports(p))}
    assert eager == set()
