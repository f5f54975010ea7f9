"""The packages are layers, and no layer imports one above it: the core package
``tallyhouse`` imports neither the Dagster definitions (``orchestration``), the dashboards nor
the command line (``tallyhouse_cli``); ``orchestration`` and ``dashboards`` never import the
command line, nor each other. So nothing imports a package that imports it back."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# package -> the packages it may not import (at module level or inside a function)
FORBIDDEN = {
    "tallyhouse": {"orchestration", "dashboards", "tallyhouse_cli"},
    "orchestration": {"dashboards", "tallyhouse_cli"},
    "dashboards": {"orchestration", "tallyhouse_cli"},
}


def imported_packages(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def violations(package: str) -> list[str]:
    return [f"{path.relative_to(ROOT)} imports {name}"
            for path in sorted((ROOT / package).rglob("*.py"))
            for name in sorted(imported_packages(path) & FORBIDDEN[package])]


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_layer_imports_one_above_it(package):
    assert violations(package) == []


def test_the_check_sees_an_upward_import(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    from orchestration.run import run_job\n")
    assert imported_packages(sample) == {"orchestration"}
