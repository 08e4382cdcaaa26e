"""Job inputs into the object store: local files and folders, URLs, and registered datasets.

A registered dataset version is ``<root>/datasets/<name>/<version>/dataset.json``: its sources and the
oid of a manifest of blobs in ``objects/`` — the same mechanism as source snapshots, so nodes cache data
by content and only missing blobs ever travel. URL sources are downloaded once (checksums verified when
known, retries, progress) into ``<root>/downloads/``. ``Dataset`` is the v1 face over this.
"""

from __future__ import annotations

import glob
import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from trainers.datasets import fetch

from .errors import DatasetError
from .progress import byte_steps
from .registry import VersionedRegistry, parse_ref
from .snapshot import store_input, store_manifest

if TYPE_CHECKING:
    from .workspace import Workspace

RECORD = "dataset.json"
DATASET_PREFIXES = ("dataset:", "azureml:")
Progress = Callable[[str], None]


def dataset_registry(root: str | os.PathLike) -> VersionedRegistry:
    return VersionedRegistry(Path(root) / "datasets", RECORD, "dataset",
                             "register one with `trainyard datasets register NAME PATH_OR_URL`", DatasetError)


def is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def fetch_url(workspace: Workspace, url: str, progress: Progress | None = None) -> Path:
    """Download ``url`` into the workspace's download cache (once); ``#md5=`` / ``#sha256=`` pin it."""
    base, _, fragment = url.partition("#")
    checks = dict(p.split("=", 1) for p in fragment.split("&") if "=" in p)
    name = base.rstrip("/").rsplit("/", 1)[-1] or "download"
    dest = workspace.root / "downloads" / hashlib.sha256(base.encode()).hexdigest()[:16] / name
    if dest.is_file():
        return dest

    try:
        return fetch(base, dest, md5=checks.get("md5"), sha256=checks.get("sha256"),
                     progress=byte_steps(progress, f"downloading {name}"))
    except OSError as exc:
        raise DatasetError(f"{exc}; check the URL and the network, then register again") from None


def resolve_sources(sources: list[str]) -> list[tuple[str, Path]]:
    """Local sources (files, folders, globs) → (name in the dataset, path) pairs (pure over the FS)."""
    out: list[tuple[str, Path]] = []
    for source in sources:
        matches = sorted(glob.glob(os.path.expanduser(source), recursive=True)) if any(c in source for c in "*?[") \
            else [os.path.expanduser(source)]
        if not matches or not all(os.path.exists(m) for m in matches):
            raise DatasetError(f"dataset source {source!r} does not exist")
        for m in matches:
            p = Path(m)
            if p.is_dir():
                out += [(f.relative_to(p).as_posix() if len(sources) == 1 and len(matches) == 1
                         else f"{p.name}/{f.relative_to(p).as_posix()}", f)
                        for f in sorted(p.rglob("*")) if f.is_file()]
            else:
                out.append((p.name, p))
    return out


def store_sources(workspace: Workspace, sources: list[str], progress: Progress | None = None) -> str:
    """Put the files of ``sources`` (local paths, globs, URLs) into the object store; returns the manifest oid."""
    entries = []
    local = [s for s in sources if not is_url(s)]
    for url in (s for s in sources if is_url(s)):
        path = fetch_url(workspace, url, progress)
        oid, _ = workspace.objects.add_file(path)
        entries.append({"path": path.name, "size": path.stat().st_size, "mode": 0o644, "oid": oid})
    for name, path in resolve_sources(local) if local else []:
        oid, _ = workspace.objects.add_file(path)
        entries.append({"path": name, "size": path.stat().st_size, "mode": 0o644, "oid": oid})
    if not entries:
        raise DatasetError(f"dataset sources {sources} contain no files")
    names = [e["path"] for e in entries]
    if len(names) != len(set(names)):
        raise DatasetError("two sources give files of the same name; register them as separate datasets")
    return store_manifest(workspace.objects, entries)[0]


def resolve_input(workspace: Workspace, path: str, progress: Progress | None = None) -> str:
    """A job input path (``dataset:NAME[:VER|@latest]``, URL or local path) → manifest oid in the store."""
    if path.startswith(DATASET_PREFIXES):
        name, version = parse_ref(path.split(":", 1)[1], "dataset", DatasetError)
        record = dataset_registry(workspace.root).get(name, version)
        return record.get("manifest") or store_sources(workspace, record["sources"], progress)
    if is_url(path):
        return store_sources(workspace, [path], progress)
    if not Path(path).exists():
        raise DatasetError(f"input path {path} does not exist")
    return store_input(path, workspace.objects)[0]
