"""Datasets (Azure ML v1 ``Dataset.File`` / ``Dataset.Tabular`` names), registered by content in the store.

The v1 face over ``inputs`` (content into the object store, URL downloads, the dataset registry): a
version is ``<root>/datasets/<name>/<version>/dataset.json`` holding its sources and a manifest oid. A
tabular dataset is the same plus a recipe (format, parsing options, steps such as ``take`` or
``keep_columns``): a versioned recipe over blobs. Reading it is ``trainers.tabular.read_table``, the same code
a job runs for ``run.input_datasets[name]``; pandas is needed only by ``to_pandas_dataframe``.
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trainers._atomic import write_json_atomic
from trainers.tabular import TYPES, TableError, read_table, to_pandas

from .datastore import resolve_datastore_paths
from .errors import DatasetError
from .inputs import dataset_registry, is_url, resolve_sources, store_sources
from .jobspec import DOWNLOAD, RO_MOUNT, InputSpec
from .progress import byte_steps
from .record import skip_unreadable
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
        with registry.locked(name):
            return self._register_locked(workspace, registry, name, manifest, description, tags, create_new_version)

    def _register_locked(self, workspace: Workspace, registry, name: str, manifest: str, description: str | None,
                         tags: dict | None, create_new_version: bool) -> FileDataset:
        versions = registry.versions(name)
        extra = self.record_extra()
        for v in reversed(versions):
            existing = registry.get(name, v)
            if existing["manifest"] == manifest and existing.get("recipe") == extra.get("recipe"):
                return Dataset.from_record(workspace, existing)
        if versions and not create_new_version:
            raise DatasetError(f"dataset {name!r} already exists (version {versions[-1]}) with other content; "
                               "pass create_new_version=True (CLI: --create-new-version) to add a version")
        files = load_manifest(workspace.objects, manifest)
        record: dict[str, Any] = {}

        def fill(vdir: Path, version: int) -> None:
            record.update(name=name, version=version, manifest=manifest, sources=self.sources,
                          description=description, tags={k: str(v) for k, v in (tags or {}).items()},
                          files=len(files), bytes=sum(f["size"] for f in files), created=time.time(), **extra)
            write_json_atomic(vdir / registry.record, record)

        registry.allocate(name, fill)
        return Dataset.from_record(workspace, record)

    def record_extra(self) -> dict:
        """What a subclass adds to the registered record (a tabular dataset: its recipe)."""
        return {}

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
                         mode=self.mode, recipe=getattr(self.dataset, "recipe", None))


class TabularDataset(FileDataset):
    def __init__(self, sources: list[str], workspace: Workspace | None = None, record: dict | None = None,
                 recipe: dict | None = None):
        super().__init__(sources, workspace, record)
        self.recipe = dict(recipe or (record or {})["recipe"])

    def record_extra(self) -> dict:
        return {"recipe": self.recipe}

    # -- reading ----------------------------------------------------------------------------------------
    def files(self) -> list[Path]:
        """The files in recipe order: blobs of a registered dataset, else the local sources."""
        if self._record.get("manifest"):
            by_name = {e["path"]: self.workspace.objects.path(e["oid"])
                       for e in load_manifest(self.workspace.objects, self._record["manifest"])}
        else:
            by_name = dict(resolve_sources(self.sources))
        return [by_name[n] for n in self.recipe["files"]]

    def to_pandas_dataframe(self) -> Any:
        try:
            return to_pandas(read_table(self.files(), self.recipe))
        except TableError as exc:
            raise DatasetError(str(exc)) from None

    # -- recipe steps (each returns a new, unregistered dataset) -------------------------------------------
    def _with_step(self, step: dict) -> TabularDataset:
        record = {k: v for k, v in self._record.items() if k in ("manifest", "name", "version")}
        return TabularDataset(self.sources, self.workspace, record,
                              {**self.recipe, "steps": [*self.recipe.get("steps", []), step]})

    def take(self, count: int) -> TabularDataset:
        return self._with_step({"take": int(count)})

    def keep_columns(self, columns: str | list[str], validate: bool = False) -> TabularDataset:
        return self._checked(self._with_step({"keep_columns": _names(columns)}), validate)

    def drop_columns(self, columns: str | list[str]) -> TabularDataset:
        return self._with_step({"drop_columns": _names(columns)})

    def random_split(self, percentage: float, seed: int | None = None) -> tuple[TabularDataset, TabularDataset]:
        """Two datasets with ``percentage`` and the rest of the rows; the same seed gives the same split."""
        if not 0 < float(percentage) < 1:
            raise DatasetError(f"random_split percentage must be between 0 and 1, got {percentage}")
        seed = random.randrange(2 ** 31) if seed is None else int(seed)
        return tuple(self._with_step({"random_split": {"percentage": float(percentage), "seed": seed, "part": p}})
                     for p in (0, 1))  # type: ignore[return-value]

    def _checked(self, dataset: TabularDataset, validate: bool) -> TabularDataset:
        if validate:
            dataset.to_pandas_dataframe()
        return dataset

    def __repr__(self) -> str:
        return f"TabularDataset(id={self.id!r}, files={self.recipe['files']!r})"


class TabularFactory:
    """``Dataset.Tabular``."""

    @staticmethod
    def from_delimited_files(path: Any, validate: bool = True, include_path: bool = False,
                             infer_column_types: bool = True, set_column_types: dict | None = None,
                             separator: str = ",", header: bool | str = True, **_unused: Any) -> TabularDataset:
        types = {str(k): _type_name(v) for k, v in (set_column_types or {}).items()}
        recipe = {"format": "delimited", "separator": separator, "header": header not in (False, "no_header", 0),
                  "infer_column_types": bool(infer_column_types), "set_column_types": types}
        return _make(path, recipe, validate)

    @staticmethod
    def from_parquet_files(path: Any, validate: bool = True, include_path: bool = False,
                           set_column_types: dict | None = None, **_unused: Any) -> TabularDataset:
        return _make(path, {"format": "parquet"}, validate)


def _make(path: Any, recipe: dict, validate: bool) -> TabularDataset:
    sources = resolve_datastore_paths(path)
    names = [n for n, _ in resolve_sources(sources)]
    if not names:
        raise DatasetError(f"{path!r} matches no files")
    dataset = TabularDataset(sources, recipe={**recipe, "files": names, "steps": []})
    if validate:  # the first file must read (as v1 checks); the whole recipe is read when used
        try:
            read_table(dataset.files()[:1], recipe)
        except TableError as exc:
            raise DatasetError(str(exc)) from None
    return dataset


def _names(columns: str | list[str]) -> list[str]:
    return [columns] if isinstance(columns, str) else [str(c) for c in columns]


def _type_name(value: Any) -> str:
    name = getattr(value, "__name__", value)
    name = {"long": "int", "integer": "int", "double": "float", "string": "str", "boolean": "bool"}.get(
        str(name).lower(), str(name).lower())
    if name not in TYPES:
        raise DatasetError(f"set_column_types: unknown type {value!r}; use one of {', '.join(TYPES)}")
    return name


class _FileFactory:
    @staticmethod
    def from_files(path: Any, validate: bool = True) -> FileDataset:
        """Local paths, globs, URLs, ``(datastore, "glob")`` tuples, ``datastore.path(...)``, or a list."""
        sources = resolve_datastore_paths(path)
        if validate:
            local = [s for s in sources if not is_url(s)]
            if local:
                resolve_sources(local)
        return FileDataset(sources)


class Dataset:
    File = _FileFactory
    Tabular = TabularFactory

    @staticmethod
    def get_by_name(workspace: Workspace, name: str, version: str | int = "latest") -> FileDataset:
        """``name`` may be a reference itself (``mnist:2``, ``mnist@latest``)."""
        ref_name, ref_version = parse_ref(name, "dataset", DatasetError)
        record = dataset_registry(workspace.root).get(ref_name, version if ref_version is None else ref_version)
        return Dataset.from_record(workspace, record)

    @staticmethod
    def from_record(workspace: Workspace, record: dict) -> FileDataset:
        """A registered version: a tabular dataset when the record has a recipe, else a file dataset."""
        if record.get("recipe") is not None:
            return TabularDataset(record["sources"], workspace, record)
        return FileDataset(record["sources"], workspace, record)

    @staticmethod
    def list(workspace: Workspace) -> list[FileDataset]:
        names = dataset_registry(workspace.root).names()
        return list(skip_unreadable(names, lambda n: Dataset.get_by_name(workspace, n)))
