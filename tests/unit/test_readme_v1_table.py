"""The README's v1 support tables stay true: every supported name imports, every unsupported path does not."""

from __future__ import annotations

import importlib
import re

from tests.conftest import REPO

SECTION = REPO.joinpath("README.md").read_text().split("## Migrating from Azure ML v1", 1)[1].split("\n## ", 1)[0]


def resolve(dotted: str) -> object:
    """The object a dotted path names (longest importable module, then attributes); raises if none."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for attr in parts[i:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(dotted)


def rows(header: str) -> list[list[str]]:
    table = SECTION.split(header, 1)[1].split("\n\n", 1)[0]
    return [[c.strip() for c in line.strip("|").split("|")] for line in table.splitlines()
            if line.startswith("|") and not line.startswith("|---")]


def test_every_supported_name_imports():
    """Each name in the supported table resolves under its Trainyard module (the shim row under trainers)."""
    checked = 0
    for v1, module, names in rows("| v1 module | Trainyard module | names |"):
        target = "trainers.compat.azureml.core" if "shim" in module else module.strip("`")
        assert v1.strip("`").startswith("azureml"), v1
        for name in (n.strip() for n in names.split(",")):
            assert resolve(f"{target}.{name}") is not None, name
            checked += 1
    assert checked > 50


def test_every_unsupported_path_is_absent():
    """Each v1 path in the unsupported table has no counterpart under trainyard (update the table when it has)."""
    paths = [p for first, _ in rows("| v1 | what to do |") for p in re.findall(r"`(azureml[\w.]*)`", first)]
    assert len(paths) > 10
    for path in paths:
        try:
            resolve("trainyard" + path[len("azureml"):])
        except (ImportError, AttributeError):
            continue
        raise AssertionError(f"{path} is supported now: move it to the supported table")
