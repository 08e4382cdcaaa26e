"""Source snapshots: which files of the ``code`` directory a run gets, stored by content.

Ignore rules: ``.trainignore``, else ``.amlignore``, else ``.gitignore`` (root only, full gitignore
syntax including ``!`` negation), after the default excludes below. Files that look like secrets are
left out with a warning unless the ignore file re-includes them with ``!``. The manifest (path, size,
mode, oid) and every blob go into the workspace's content-addressed store, so identical files are stored
once across runs and nodes can be told exactly which blobs they lack.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pathspec

from trainers.objects import ObjectStore, hash_file, manifest_bytes

from .errors import SnapshotError
from .secret import is_secret_name, scan_file

IGNORE_FILES = (".trainignore", ".amlignore", ".gitignore")
DEFAULT_EXCLUDES = [".git/", ".venv/", "venv/", "__pycache__/", "outputs/", "logs/", ".trainyard/",
                    ".ipynb_checkpoints/", ".DS_Store"]


@dataclass
class FileEntry:
    path: str  # posix, relative
    size: int
    mode: int
    oid: str

    def to_dict(self) -> dict:
        return {"path": self.path, "size": self.size, "mode": self.mode, "oid": self.oid}


@dataclass
class Snapshot:
    """A stored snapshot: ``oid`` is the hash of the canonical manifest (itself a stored blob)."""

    oid: str
    files: list[FileEntry]
    ignore_file: str | None
    warnings: list[str] = field(default_factory=list)
    new_blobs: int = 0

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)

    def summary(self) -> dict:
        return {"oid": self.oid, "files": len(self.files), "bytes": self.total_bytes,
                "ignore_file": self.ignore_file, "new_blobs": self.new_blobs, "warnings": self.warnings}


@dataclass
class IgnoreRules:
    """Compiled ignore rules for one source directory (pure once built)."""

    spec: pathspec.PathSpec
    reincluded: pathspec.PathSpec
    ignore_file: str | None

    def is_excluded(self, rel: str, is_dir: bool) -> bool:
        return self.spec.match_file(rel + "/" if is_dir else rel)

    def secret_in(self, rel: str, path: Path) -> str | None:
        """Why the file looks like a secret (by name, else by content), unless re-included with ``!``."""
        if self.reincluded.match_file(rel):
            return None
        if is_secret_name(rel):
            return "a credential file"
        kind = scan_file(path)
        return f"it contains {kind}" if kind else None


def find_stray_ignore_file(code: Path, job_dir: Path) -> Path | None:
    """An ignore file in the job file's directory that the snapshot of ``code`` (a subdirectory) would not
    read, because ``code`` has none of its own."""
    if code.resolve() == job_dir.resolve() or any((code / name).is_file() for name in IGNORE_FILES):
        return None
    return next((job_dir / n for n in IGNORE_FILES[:2] if (job_dir / n).is_file()), None)


def load_ignore_rules(code: Path) -> IgnoreRules:
    lines: list[str] = []
    used = None
    for name in IGNORE_FILES:
        f = code / name
        if f.is_file():
            lines = f.read_text(errors="replace").splitlines()
            used = name
            break
    negations = [ln.strip()[1:] for ln in lines if ln.strip().startswith("!")]
    return IgnoreRules(
        spec=pathspec.GitIgnoreSpec.from_lines(DEFAULT_EXCLUDES + lines),
        reincluded=pathspec.GitIgnoreSpec.from_lines(negations),
        ignore_file=used,
    )


def scan_tree(code: Path, rules: IgnoreRules) -> tuple[list[tuple[str, Path, os.stat_result]], list[str]]:
    """Walk ``code`` applying the rules; returns ((rel, path, stat) for each file, warnings)."""
    found, warnings = [], []
    root = code.resolve()
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = Path(dirpath).relative_to(root).as_posix()
        rel_dir = "" if rel_dir == "." else rel_dir + "/"
        dirnames[:] = sorted(d for d in dirnames if not rules.is_excluded(rel_dir + d, True)
                             and not os.path.islink(os.path.join(dirpath, d)))
        for name in sorted(filenames):
            rel = rel_dir + name
            if rules.is_excluded(rel, False):
                continue
            path = Path(dirpath, name)
            if path.is_symlink() and not path.resolve().is_relative_to(root):
                warnings.append(f"skipped {rel}: symlink points outside the source directory")
                continue
            try:
                st = path.stat()
            except OSError as exc:
                warnings.append(f"skipped {rel}: {exc.strerror}")
                continue
            if not stat.S_ISREG(st.st_mode):
                continue
            why = rules.secret_in(rel, path)
            if why:
                warnings.append(f"left out {rel}: it looks like a secret ({why}); add '!{rel}' to "
                                f"{rules.ignore_file or '.trainignore'} if the job really needs it")
                continue
            found.append((rel, path, st))
    return found, warnings


def describe_largest(files: list[tuple[str, Path, os.stat_result]], n: int = 3) -> str:
    """'data/train.bin (380.0 MB), …; folders: data/ (400.0 MB)' (pure)."""
    by_size = sorted(files, key=lambda f: f[2].st_size, reverse=True)[:n]
    folders: dict[str, int] = {}
    counts: dict[str, int] = {}
    for rel, _, st in files:
        top = rel.split("/", 1)[0] + "/" if "/" in rel else None
        if top:
            folders[top] = folders.get(top, 0) + st.st_size
            counts[top] = counts.get(top, 0) + 1
    big_dirs = sorted(folders, key=folders.get, reverse=True)[:n]
    text = ", ".join(f"{rel} ({_mb(st.st_size)})" for rel, _, st in by_size)
    if big_dirs:
        text += "; folders: " + ", ".join(f"{d} ({_mb(folders[d])}, {counts[d]} files)" for d in big_dirs)
    return text


def _mb(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MB"


def check_limits(code: Path, files: list, ignore_file: str | None, max_bytes: int, max_files: int) -> None:
    total = sum(st.st_size for _, _, st in files)
    fix = (f"Move data and virtualenvs out of the source directory or add them to "
           f"{ignore_file or '.trainignore'} (gitignore syntax), or raise the limit in the workspace config.")
    if total > max_bytes:
        raise SnapshotError(f"snapshot of {code} is {_mb(total)}, over the {_mb(max_bytes)} limit; "
                            f"largest: {describe_largest(files)}. {fix}")
    if len(files) > max_files:
        raise SnapshotError(f"snapshot of {code} has {len(files)} files, over the limit of {max_files}; "
                            f"largest: {describe_largest(files)}. {fix}")


def take_snapshot(code: str | os.PathLike, store: ObjectStore, max_bytes: int = 300 << 20,
                  max_files: int = 2000, progress: Callable[[int, int], None] | None = None) -> Snapshot:
    """Snapshot ``code`` into ``store``; raises SnapshotError over a limit (nothing stored then)."""
    code = Path(code).resolve()
    if not code.is_dir():
        raise SnapshotError(f"source directory {code} does not exist")
    rules = load_ignore_rules(code)
    files, warnings = scan_tree(code, rules)
    check_limits(code, files, rules.ignore_file, max_bytes, max_files)
    entries, new, done = [], 0, 0
    total = sum(st.st_size for _, _, st in files)
    for rel, path, st in files:
        oid = hash_file(path)
        _, is_new = store.add_file(path, oid)
        new += is_new
        entries.append(FileEntry(rel, st.st_size, 0o755 if st.st_mode & 0o111 else 0o644, oid))
        done += st.st_size
        if progress:
            progress(done, total)
    oid, is_new = store_manifest(store, [e.to_dict() for e in entries])
    return Snapshot(oid, entries, rules.ignore_file, warnings, new + is_new)


def store_input(path: str | os.PathLike, store: ObjectStore) -> tuple[str, int]:
    """Store a data file or folder (no ignore rules, no limits); returns (manifest oid, bytes)."""
    path = Path(path)
    if path.is_file():
        files = [(path.name, path, path.stat())]
    elif path.is_dir():
        files = [(p.relative_to(path).as_posix(), p, p.stat()) for p in sorted(path.rglob("*")) if p.is_file()]
    else:
        raise SnapshotError(f"input path {path} does not exist")
    entries = []
    for rel, p, st in files:
        oid, _ = store.add_file(p)
        entries.append({"path": rel, "size": st.st_size, "mode": 0o644, "oid": oid})
    return store_manifest(store, entries)[0], sum(st.st_size for _, _, st in files)


def store_manifest(store: ObjectStore, entries: list[dict]) -> tuple[str, bool]:
    """Store a manifest (list of file entries) as a blob; returns (oid, is_new)."""
    return store.add_bytes(manifest_bytes(entries))


def load_manifest(store: ObjectStore, oid: str) -> list[dict]:
    store.verify(oid)
    return json.loads(store.path(oid).read_bytes())
