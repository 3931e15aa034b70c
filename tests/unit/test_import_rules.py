"""The arrows point one way: the engine imports nothing of ours, the API no worker code, and
what the API loads on its request path loads no torch."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def imported_packages(package: str) -> set[tuple[str, str]]:
    """(file, top-level package) of every import in ``package``'s modules."""
    return {(str(path.relative_to(REPO)), name.split(".")[0])
            for path in (REPO / package).rglob("*.py")
            for _, name in imported_modules(path)}


@pytest.mark.parametrize(("package", "forbidden"), [
    ("engine", {"api", "worker"}),
    ("api", {"worker"}),
])
def test_imports_point_one_way(package, forbidden):
    wrong = sorted(f"{path} imports {name}" for path, name in imported_packages(package)
                   if name in forbidden)
    assert wrong == []


@pytest.mark.parametrize(("module", "use"), [("engine.schemas", "None"),
                                             ("api.main", "api.main.app")])
def test_loading_needs_no_torch(module, use):
    """``engine.schemas`` (the API validates with it) and the served app load no torch."""
    code = f"import sys, {module}; {use}; print('torch' in sys.modules)"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=REPO, check=True).stdout.strip()
    assert loaded == "False"


def api_units() -> dict[str, set[str]]:
    """api's packages and top-level modules (``api.jobs``, ``api.tenancy``) -> the others
    they import."""
    edges: dict[str, set[str]] = {}

    def unit(module: str) -> str | None:
        parts = module.split(".")
        return ".".join(parts[:2]) if parts[0] == "api" and len(parts) > 1 else None

    for path in (REPO / "api").rglob("*.py"):
        source = unit(".".join(path.relative_to(REPO).with_suffix("").parts))
        for _, name in imported_modules(path):
            target = unit(name)
            if source and target and target != source:
                edges.setdefault(source, set()).add(target)
    return edges


def imported_modules(path: Path) -> set[tuple[str, str]]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {(str(path), alias.name) for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add((str(path), node.module))
    return found


def test_no_two_api_domains_import_each_other():
    """Tables live in api.models and infrastructure in api.kit, so no two domains need
    each other both ways."""
    edges = api_units()
    ties = sorted({tuple(sorted((a, b))) for a, targets in edges.items() for b in targets
                   if a in edges.get(b, set())})
    assert ties == []


def test_the_worker_uses_the_data_layer_not_the_apis_services():
    wrong = sorted(f"{Path(path).name} imports {name}"
                   for path in (REPO / "worker").glob("*.py")
                   for _, name in imported_modules(path)
                   if name.startswith("api.") and (name.rsplit(".", 1)[-1] in (
                       "service", "router", "main") or name.endswith("_router")))
    assert wrong == []
