"""Versioned registries on plain files: ``<base>/<name>/<1,2,3…>/``.

Versions are allocated with ``os.mkdir`` (atomic: exactly one caller creates a directory), so concurrent
registrations get distinct versions and none is lost. A version is complete once its record file
(``model.json``, ``environment.json`` …) is written; readers ignore directories without it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

from .errors import RegistryError

NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9\-\._]{0,254}$")


def check_name(name: str, what: str = "model") -> str:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise RegistryError(
            f"{what} name {name!r} is invalid: use 1-255 letters, digits, '-', '_' or '.', "
            "starting with a letter or digit"
        )
    return name


def list_versions(base: str | os.PathLike, marker: str | None = None) -> list[int]:
    """Sorted version numbers under ``base`` (only complete ones when ``marker`` is given)."""
    base = Path(base)
    if not base.is_dir():
        return []
    out = []
    for d in base.iterdir():
        if d.name.isdigit() and d.is_dir() and (marker is None or (d / marker).is_file()):
            out.append(int(d.name))
    return sorted(out)


def allocate_version(base: str | os.PathLike, fill: Callable[[Path, int], None]) -> int:
    """Create the next version directory atomically and call ``fill(dir, version)`` to populate it.

    If ``fill`` raises, the reserved directory is removed so no half-written version remains.
    """
    base = Path(base)
    base.mkdir(parents=True, exist_ok=True)
    while True:
        version = (max(list_versions(base), default=0)) + 1
        vdir = base / str(version)
        try:
            os.mkdir(vdir)
        except FileExistsError:
            continue
        try:
            fill(vdir, version)
        except BaseException:
            _remove_tree(vdir)
            raise
        return version


def _remove_tree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def read_version(base: str | os.PathLike, record: str, version: int | str | None, what: str, hint: str) -> dict:
    """The record of ``version`` (None/"latest" → the newest complete one) under ``base``. Raises
    LookupError naming the ``what`` and, when nothing is registered, the ``hint``; callers translate it
    into their own error family."""
    from trainers._atomic import read_json

    base = Path(base)
    versions = list_versions(base, record)
    if not versions:
        raise LookupError(f"no {what} named {base.name!r}; {hint}")
    v = versions[-1] if version in (None, "", "latest", "@latest") else int(version)
    data = read_json(base / str(v) / record)
    if data is None:
        raise LookupError(f"{what} {base.name!r} has no version {v}; versions: {versions}")
    return data
