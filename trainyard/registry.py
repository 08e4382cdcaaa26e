"""Versioned registries on plain files: ``<base>/<name>/<1,2,3…>/<record>`` (models, datasets, environments).

One mechanism serves all three: ``VersionedRegistry`` lists names and versions, reads a version's record,
allocates the next version and updates a record's metadata. Versions are allocated with ``os.mkdir``
(atomic: exactly one caller creates a directory), so concurrent registrations get distinct versions and
none is lost. A version is complete once its record file is written; readers ignore directories without
it. Metadata updates (tags, properties) are read-modify-writes under a per-name lock, so two concurrent
updates both land. ``parse_ref`` is the one parser of ``NAME``, ``NAME:VERSION`` and ``NAME@latest``.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

from trainers._atomic import read_json, write_json_atomic

from .errors import RegistryError, TrainyardError
from .record import load_record

NAME_RE = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9\-\._]{0,254}")
LATEST = "latest"


def check_name(name: str, what: str = "model", error: type[TrainyardError] = RegistryError) -> str:
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):  # checked before it becomes a path
        raise error(
            f"{what} name {name!r} is invalid: use 1-255 letters, digits, '-', '_' or '.', "
            "starting with a letter or digit"
        )
    return name


def parse_ref(ref: str, what: str = "model", error: type[TrainyardError] = RegistryError) -> tuple[str, int | None]:
    """``NAME``, ``NAME:VERSION``, ``NAME@latest`` (or ``NAME:latest``, ``NAME@VERSION``) → (name, version),
    version None for the latest (pure)."""
    name, sep, version = str(ref).replace("@", ":", 1).partition(":")
    check_name(name, what, error)
    if not sep or version == LATEST:
        return name, None
    if not version.isdigit() or int(version) < 1:
        raise error(f"{what} reference {ref!r} is invalid: use NAME, NAME:VERSION (a number from 1) or "
                    "NAME@latest")
    return name, int(version)


class VersionedRegistry:
    """The registered versions of one kind of thing under ``base`` (``<root>/models`` …)."""

    def __init__(self, base: str | os.PathLike, record: str, what: str, hint: str,
                 error: type[TrainyardError] = RegistryError):
        self.base = Path(base)
        self.record = record  # "model.json": the file that completes a version
        self.what = what  # "model": how errors name the thing
        self.hint = hint  # what to do when nothing is registered under a name
        self.error = error

    def version_dir(self, name: str, version: int | str) -> Path:
        return self.base / name / str(version)

    def names(self) -> list[str]:
        """Names with at least one complete version, sorted."""
        if not self.base.is_dir():
            return []
        return sorted(d.name for d in self.base.iterdir() if d.is_dir() and self.versions(d.name))

    def versions(self, name: str) -> list[int]:
        """Sorted numbers of the complete versions of ``name``."""
        return [v for v in _version_numbers(self.base / name) if (self.base / name / str(v) / self.record).is_file()]

    def get(self, name: str, version: int | str | None = None) -> dict:
        """The record of ``version`` (None or "latest" → the newest complete one)."""
        check_name(name, self.what, self.error)
        versions = self.versions(name)
        if not versions:
            raise self.error(f"no {self.what} named {name!r}; {self.hint}")
        if version in (None, "", LATEST):
            chosen = versions[-1]
        elif str(version).isdigit():
            chosen = int(version)
        else:
            raise self.error(f"{self.what} version {version!r} of {name!r} is not a number; versions: {versions}")
        data = load_record(self.version_dir(name, chosen) / self.record)  # StoreError when unreadable
        if data is None:
            raise self.error(f"{self.what} {name!r} has no version {chosen}; versions: {versions}")
        return data

    def allocate(self, name: str, fill: Callable[[Path, int], None]) -> int:
        """Create the next version directory atomically and call ``fill(dir, version)`` to populate it (it
        writes the record last). If ``fill`` raises, the reserved directory is removed."""
        check_name(name, self.what, self.error)
        base = self.base / name
        base.mkdir(parents=True, exist_ok=True)
        while True:
            version = max(_version_numbers(base), default=0) + 1
            vdir = base / str(version)
            try:
                os.mkdir(vdir)
            except FileExistsError:
                continue
            try:
                fill(vdir, version)
            except BaseException:
                shutil.rmtree(vdir, ignore_errors=True)
                raise
            return version

    def update(self, name: str, version: int | str, change: Callable[[dict], None]) -> dict:
        """Apply ``change`` to a version's record under the name's lock; returns the new record."""
        path = self.version_dir(name, version) / self.record
        with self.locked(name):
            record = read_json(path)
            if record is None:
                raise self.error(f"{self.what} {name}:{version} does not exist")
            change(record)
            write_json_atomic(path, record)
        return record

    @contextmanager
    def locked(self, name: str):
        """Held while one process decides whether ``name`` needs a new version and allocates it (and while
        a record is updated), so concurrent registrations of one content make one version."""
        check_name(name, self.what, self.error)
        (self.base / name).mkdir(parents=True, exist_ok=True)
        with open(self.base / name / ".lock", "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            yield


def _version_numbers(base: Path) -> list[int]:
    """Every numbered directory under ``base``, complete or not, sorted."""
    if not base.is_dir():
        return []
    return sorted(int(d.name) for d in base.iterdir() if d.name.isdigit() and d.is_dir())
