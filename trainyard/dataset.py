"""Datasets (Azure ML v1 ``Dataset.File`` names), registered by content in the workspace store.

A registered dataset version is ``<root>/datasets/<name>/<version>/dataset.json``: its sources and the oid
of a manifest of blobs in ``objects/`` — the same mechanism as source snapshots, so nodes cache data by
content and only missing blobs ever travel. URL sources are downloaded once (checksums verified when
known, retries, progress) into ``<root>/downloads/``.
"""

from __future__ import annotations

import glob
import hashlib
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trainers._atomic import read_json, write_json_atomic
from trainers.datasets import fetch

from .errors import DatasetError
from .jobspec import InputSpec
from .progress import byte_steps
from .registry import allocate_version, check_name, list_versions, read_version
from .snapshot import load_manifest, store_input, store_manifest

if TYPE_CHECKING:
    from .workspace import Workspace

RECORD = "dataset.json"
Progress = Callable[[str], None]


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


class FileDataset:
    def __init__(self, sources: list[str], workspace: Workspace | None = None, record: dict | None = None):
        self.sources = sources
        self.workspace = workspace
        self._record = record or {}

    name = property(lambda self: self._record.get("name"))
    version = property(lambda self: self._record.get("version"))
    description = property(lambda self: self._record.get("description"))
    tags = property(lambda self: dict(self._record.get("tags") or {}))
    id = property(lambda self: f"{self.name}:{self.version}" if self.name else None)

    # -- content ----------------------------------------------------------------------------------
    def store(self, workspace: Workspace, progress: Progress | None = None) -> str:
        """Put the content into the workspace's object store; returns the manifest oid."""
        if self._record.get("manifest"):
            return self._record["manifest"]
        entries = []
        local = [s for s in self.sources if not is_url(s)]
        for url in (s for s in self.sources if is_url(s)):
            path = fetch_url(workspace, url, progress)
            oid, _ = workspace.objects.add_file(path)
            entries.append({"path": path.name, "size": path.stat().st_size, "mode": 0o644, "oid": oid})
        for name, path in resolve_sources(local) if local else []:
            oid, _ = workspace.objects.add_file(path)
            entries.append({"path": name, "size": path.stat().st_size, "mode": 0o644, "oid": oid})
        if not entries:
            raise DatasetError(f"dataset sources {self.sources} contain no files")
        names = [e["path"] for e in entries]
        if len(names) != len(set(names)):
            raise DatasetError("two sources give files of the same name; register them as separate datasets")
        return store_manifest(workspace.objects, entries)[0]

    def register(self, workspace: Workspace, name: str, description: str | None = None, tags: dict | None = None,
                 create_new_version: bool = False, progress: Progress | None = None) -> FileDataset:
        """Register as ``name``; identical content returns the existing version."""
        check_name(name, "dataset")
        manifest = self.store(workspace, progress)
        base = workspace.root / "datasets" / name
        versions = list_versions(base, RECORD)
        for v in reversed(versions):
            existing = read_json(base / str(v) / RECORD)
            if existing["manifest"] == manifest:
                return FileDataset(existing["sources"], workspace, existing)
        if versions and not create_new_version:
            raise DatasetError(f"dataset {name!r} already exists (version {versions[-1]}) with other content; "
                               "pass create_new_version=True (CLI: --create-new-version) to add a version")
        files = load_manifest(workspace.objects, manifest)
        record: dict[str, Any] = {}

        def fill(vdir: Path, version: int) -> None:
            record.update(name=name, version=version, manifest=manifest, sources=self.sources,
                          description=description, tags={k: str(v) for k, v in (tags or {}).items()},
                          files=len(files), bytes=sum(f["size"] for f in files), created=time.time())
            write_json_atomic(vdir / RECORD, record)

        allocate_version(base, fill)
        return FileDataset(self.sources, workspace, record)

    def to_path(self) -> list[str]:
        """Relative paths of the files in the dataset."""
        if self._record.get("manifest"):
            return sorted(e["path"] for e in load_manifest(self.workspace.objects, self._record["manifest"]))
        return sorted(n for n, _ in resolve_sources([s for s in self.sources if not is_url(s)])) + \
            [s.partition("#")[0].rsplit("/", 1)[-1] for s in self.sources if is_url(s)]

    def download(self, target_path: str | os.PathLike, overwrite: bool = False) -> list[str]:
        """Copy the files out (sha256-verified); existing files need ``overwrite``."""
        if not self.workspace:
            raise DatasetError("download needs a registered dataset (Dataset.get_by_name)")
        out = []
        for e in load_manifest(self.workspace.objects, self.store(self.workspace)):
            dest = Path(target_path) / e["path"]
            if dest.exists() and not overwrite:
                raise DatasetError(f"{dest} exists; pass overwrite=True (CLI: --overwrite)")
            self.workspace.objects.copy_to(e["oid"], dest)
            out.append(str(dest))
        return out

    # -- consumption ------------------------------------------------------------------------------
    def as_named_input(self, name: str) -> DatasetConsumptionConfig:
        return DatasetConsumptionConfig(name, self)

    def as_mount(self) -> DatasetConsumptionConfig:
        return DatasetConsumptionConfig(None, self, "ro_mount")

    def as_download(self) -> DatasetConsumptionConfig:
        return DatasetConsumptionConfig(None, self, "download")

    def input_path(self) -> str:
        """How a job input names this dataset: ``dataset:NAME:VERSION``, or its single local/URL source."""
        if self.name:
            return f"dataset:{self.name}:{self.version}"
        if len(self.sources) == 1:
            return self.sources[0] if is_url(self.sources[0]) else str(Path(self.sources[0]).resolve())
        raise DatasetError("a dataset with several sources must be registered before a run can use it")

    def __repr__(self) -> str:
        return f"FileDataset(id={self.id!r}, sources={self.sources!r})"


class DatasetConsumptionConfig:
    """How a run consumes a dataset (``ds.as_named_input('mnist').as_mount()``)."""

    def __init__(self, name: str | None, dataset: FileDataset, mode: str = "download"):
        self.name = name
        self.dataset = dataset
        self.mode = mode

    def as_mount(self) -> DatasetConsumptionConfig:
        return DatasetConsumptionConfig(self.name, self.dataset, "ro_mount")

    def as_download(self) -> DatasetConsumptionConfig:
        return DatasetConsumptionConfig(self.name, self.dataset, "download")

    def to_input_spec(self, default_name: str) -> InputSpec:
        return InputSpec(self.name or default_name, type="uri_folder", path=self.dataset.input_path(),
                         mode=self.mode)


class _FileFactory:
    @staticmethod
    def from_files(path: str | list[str], validate: bool = True) -> FileDataset:
        sources = [path] if isinstance(path, str) else list(path)
        if validate:
            local = [s for s in sources if not is_url(s)]
            if local:
                resolve_sources(local)
        return FileDataset(sources)


class Dataset:
    File = _FileFactory

    @staticmethod
    def get_by_name(workspace: Workspace, name: str, version: str | int = "latest") -> FileDataset:
        try:
            record = read_version(workspace.root / "datasets" / name, RECORD, version, "dataset",
                                  "register one with `trainyard datasets register NAME PATH_OR_URL`")
        except LookupError as exc:
            raise DatasetError(str(exc)) from None
        return FileDataset(record["sources"], workspace, record)

    @staticmethod
    def list(workspace: Workspace) -> list[FileDataset]:
        base = workspace.root / "datasets"
        return [Dataset.get_by_name(workspace, d.name) for d in sorted(base.iterdir())
                if list_versions(d, RECORD)] if base.is_dir() else []


def resolve_input(workspace: Workspace, path: str, progress: Progress | None = None) -> str:
    """A job input path (``dataset:NAME[:VER|@latest]``, URL or local path) → manifest oid in the store."""
    if path.startswith(("dataset:", "azureml:")):
        ref = path.split(":", 1)[1]
        name, _, version = ref.replace("@", ":").partition(":")
        return Dataset.get_by_name(workspace, name, version or "latest").store(workspace)
    if is_url(path):
        return FileDataset([path]).store(workspace, progress)
    if not Path(path).exists():
        raise DatasetError(f"input path {path} does not exist")
    return store_input(path, workspace.objects)[0]

