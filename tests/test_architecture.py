"""The tree keeps its shape: the domain package, `ml/` and `api/` import no Dagster, the domain package
imports nothing from `orchestration/`, no module-level import cycle, and the dbt sources are the contracts."""

from __future__ import annotations

import ast
from pathlib import Path

import yaml

from tests.conftest import CONTRACTS, PROJECT_ROOT

PACKAGES = ("core", "ml", "api", "orchestration", "simulator")
PURE = ("core", "ml", "api")


def _module_name(path: Path) -> str:
    parts = path.relative_to(PROJECT_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, top_level_only: bool) -> set[str]:
    """Modules a file imports (absolute names); with top_level_only, only statements run at import time."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def _files(package: str) -> list[Path]:
    return sorted((PROJECT_ROOT / package).rglob("*.py"))


def test_pure_packages_import_no_dagster():
    offenders = {
        f"{path.relative_to(PROJECT_ROOT)}: {name}"
        for package in PURE
        for path in _files(package)
        for name in _imports(path, top_level_only=False)
        if name.split(".")[0] == "dagster" or name.startswith("dagster_")
    }
    assert not offenders, sorted(offenders)


def test_the_domain_package_imports_nothing_from_orchestration():
    offenders = {
        f"{path.relative_to(PROJECT_ROOT)}: {name}"
        for path in _files("core")
        for name in _imports(path, top_level_only=False)
        if name.split(".")[0] == "orchestration"
    }
    assert not offenders, sorted(offenders)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every cycle a depth-first walk meets (each as the trail of modules that closes it)."""
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(trail[trail.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    return cycles


def test_no_import_cycles():
    modules = {_module_name(p): p for package in PACKAGES for p in _files(package)}
    graph = {
        name: {m for m in _imports(path, top_level_only=True) if m in modules and m != name}
        for name, path in modules.items()
    }
    assert not _cycles(graph)


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert not _cycles({"a": {"b"}, "b": set(), "c": {"a", "b"}})


def test_the_layer_checks_can_see_a_dagster_import(tmp_path):
    """The import scanner finds imports at any depth (so the tests above can fail)."""
    module = tmp_path / "m.py"
    module.write_text("def f():\n    import dagster as dg\n    from dagster_dbt import DbtProject\n")
    assert {"dagster", "dagster_dbt"} <= _imports(module, top_level_only=False)
    assert not _imports(module, top_level_only=True)


def test_dbt_raw_sources_are_exactly_the_contracts():
    sources = yaml.safe_load((PROJECT_ROOT / "dbt_project" / "models" / "staging" / "_sources.yml").read_text())
    raw = next(s for s in sources["sources"] if s["name"] == "raw")
    tables = sorted(t["name"] for t in raw["tables"])
    contracts = sorted(p.stem for p in CONTRACTS.glob("*.yaml"))
    assert tables == contracts, "dbt_project/models/staging/_sources.yml (source raw) must list one table per contract"


def test_every_layer_exposes_the_same_assembly_function():
    import inspect

    from orchestration.definitions import LAYERS

    names = {module.__name__.rsplit(".", 1)[-1] for module in LAYERS}
    folders = {p.parent.name for p in (PROJECT_ROOT / "orchestration").glob("*/__init__.py")}
    assert names == folders, "every orchestration/<layer>/ package is assembled, and only those"
    for module in LAYERS:
        assert list(inspect.signature(module.defs).parameters) == ["platform"], module.__name__
