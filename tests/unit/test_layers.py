"""The structure enforces itself: no import cycles, and function-local imports only for start-up time.

(The layer order itself is import-linter's contract in pyproject.toml, run by `make lint`.)"""

from __future__ import annotations

import ast
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[2]


def test_no_import_cycles():
    """No module of trainyard or trainers imports, directly or not, a module that imports it."""
    graph = grimp.build_graph("trainyard", "trainers", exclude_type_checking_imports=True)
    cycles = sorted(
        (a, b) for a in graph.modules for b in graph.find_modules_directly_imported_by(a)
        if b in graph.modules and graph.find_shortest_chain(importer=b, imported=a))
    assert cycles == []


def function_local_imports(path: Path) -> list[tuple[int, str]]:
    """(line, source line) of every import inside a function body of ``path``."""
    tree = ast.parse(path.read_text())
    lines = path.read_text().splitlines()
    found = []
    for func in ast.walk(tree):
        if isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for node in ast.walk(func):
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    found.append((node.lineno, lines[node.lineno - 1]))
    return found


def test_function_local_imports_say_they_are_for_start_up_time():
    """An import inside a function is there for start-up time and its comment says so."""
    unexplained = [f"{path.relative_to(ROOT)}:{line}: {text.strip()}"
                   for package in ("trainyard", "trainers") for path in sorted((ROOT / package).rglob("*.py"))
                   for line, text in function_local_imports(path) if "start-up time" not in text]
    assert unexplained == []


def test_function_local_import_finder_sees_one(tmp_path):
    """The finder reports an import placed inside a function (so the check above can fail)."""
    path = tmp_path / "m.py"
    path.write_text("import os\n\ndef f():\n    from json import dumps\n    return dumps\n")
    assert function_local_imports(path) == [(4, "    from json import dumps")]
