"""Datasets (Azure ML v1 ``Dataset.File`` names), registered by content in the workspace store.

The v1 face over ``inputs`` (content into the object store, URL downloads, the dataset registry): a
version is ``<root>/datasets/<name>/<version>/dataset.json`` holding its sources and a manifest oid.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trainers._atomic import write_json_atomic

from .errors import DatasetError
from .inputs import dataset_registry, is_url, resolve_sources, store_sources
from .jobspec import DOWNLOAD, RO_MOUNT, InputSpec
from .progress import byte_steps
from .registry import check_name, parse_ref
from .snapshot import load_manifest

if TYPE_CHECKING:
    from .inputs import Progress
    from .workspace import Workspace


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
        return self._record.get("manifest") or store_sources(workspace, self.sources, progress)

    def register(self, workspace: Workspace, name: str, description: str | None = None, tags: dict | None = None,
                 create_new_version: bool = False, progress: Progress | None = None) -> FileDataset:
        """Register as ``name``; identical content returns the existing version."""
        check_name(name, "dataset", DatasetError)
        manifest = self.store(workspace, progress)
        registry = dataset_registry(workspace.root)
        versions = registry.versions(name)
        for v in reversed(versions):
            existing = registry.get(name, v)
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
            write_json_atomic(vdir / registry.record, record)

        registry.allocate(name, fill)
        return FileDataset(self.sources, workspace, record)

    def to_path(self) -> list[str]:
        """Relative paths of the files in the dataset."""
        if self._record.get("manifest"):
            return sorted(e["path"] for e in load_manifest(self.workspace.objects, self._record["manifest"]))
        return sorted(n for n, _ in resolve_sources([s for s in self.sources if not is_url(s)])) + \
            [s.partition("#")[0].rsplit("/", 1)[-1] for s in self.sources if is_url(s)]

    def download(self, target_path: str | os.PathLike, overwrite: bool = False,
                 progress: Progress | None = None) -> list[str]:
        """Copy the files out (sha256-verified); existing files need ``overwrite``."""
        if not self.workspace:
            raise DatasetError("download needs a registered dataset (Dataset.get_by_name)")
        out = []
        entries = load_manifest(self.workspace.objects, self.store(self.workspace))
        report = byte_steps(progress, f"downloading {self.name or 'dataset'}", sum(e["size"] for e in entries),
                            min_total=1 << 20)
        done = 0
        for e in entries:
            dest = Path(target_path) / e["path"]
            if dest.exists() and not overwrite:
                raise DatasetError(f"{dest} exists; pass overwrite=True (CLI: --force)")
            self.workspace.objects.copy_to(e["oid"], dest)
            out.append(str(dest))
            done += e["size"]
            report(done)
        return out

    # -- consumption ------------------------------------------------------------------------------
    def as_named_input(self, name: str) -> DatasetConsumptionConfig:
        return DatasetConsumptionConfig(name, self)

    def as_mount(self) -> DatasetConsumptionConfig:
        return DatasetConsumptionConfig(None, self, RO_MOUNT)

    def as_download(self) -> DatasetConsumptionConfig:
        return DatasetConsumptionConfig(None, self, DOWNLOAD)

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

    def __init__(self, name: str | None, dataset: FileDataset, mode: str = DOWNLOAD):
        self.name = name
        self.dataset = dataset
        self.mode = mode

    def as_mount(self) -> DatasetConsumptionConfig:
        return DatasetConsumptionConfig(self.name, self.dataset, RO_MOUNT)

    def as_download(self) -> DatasetConsumptionConfig:
        return DatasetConsumptionConfig(self.name, self.dataset, DOWNLOAD)

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
        """``name`` may be a reference itself (``mnist:2``, ``mnist@latest``)."""
        ref_name, ref_version = parse_ref(name, "dataset", DatasetError)
        record = dataset_registry(workspace.root).get(ref_name, version if ref_version is None else ref_version)
        return FileDataset(record["sources"], workspace, record)

    @staticmethod
    def list(workspace: Workspace) -> list[FileDataset]:
        return [Dataset.get_by_name(workspace, n) for n in dataset_registry(workspace.root).names()]
