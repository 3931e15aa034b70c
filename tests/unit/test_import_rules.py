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
    found = set()
    for path in (REPO / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            found |= {(str(path.relative_to(REPO)), name.split(".")[0]) for name in names}
    return found


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
