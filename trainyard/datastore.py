"""Datastores (Azure ML v1 ``Datastore`` names): folders of plain files in the workspace store.

``ws.get_default_datastore()`` is ``workspaceblobstore``: ``<root>/datastores/workspaceblobstore/``. Files
are written atomically; ``upload`` without ``overwrite`` keeps files that exist (v1 skips them too). A path
in a datastore (``datastore.path("x")`` or the ``(datastore, "glob")`` tuple that ``Dataset.File.from_files``
and ``Dataset.Tabular.from_*`` take) resolves to local files, so datasets made from it are stored by content
like any other local source.
"""

from __future__ import annotations

import glob as _glob
import os
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from .errors import DatasetError
from .jobspec import InputSpec
from .progress import byte_steps

if TYPE_CHECKING:
    from .workspace import Workspace

DEFAULT = "workspaceblobstore"  # v1's name for the workspace's default datastore
Progress = Callable[[str], None]


def check_relative(path: str | None, what: str = "target_path") -> str:
    """A datastore-relative path (pure): no absolute paths, no ``..``; ``""`` for the root."""
    text = (path or "").replace("\\", "/").strip("/")
    if text.startswith("/") or ".." in PurePosixPath(text).parts:
        raise DatasetError(f"{what} {path!r} must be a relative path inside the datastore (no '..')")
    return text


class Datastore:
    """A named folder of files in the workspace store (v1 ``Datastore``)."""

    datastore_type = "Local"

    def __init__(self, workspace: Workspace, name: str = DEFAULT):
        self.workspace = workspace
        self.name = name

    @staticmethod
    def get(workspace: Workspace, datastore_name: str) -> Datastore:
        store = Datastore(workspace, datastore_name)
        if datastore_name != DEFAULT and not store.root.is_dir():
            known = ", ".join(sorted(Datastore.list_names(workspace)))
            raise DatasetError(f"no datastore named {datastore_name!r}; datastores: {known}")
        return store

    @staticmethod
    def get_default(workspace: Workspace) -> Datastore:
        return Datastore(workspace, DEFAULT)

    @staticmethod
    def list_names(workspace: Workspace) -> list[str]:
        base = workspace.root / "datastores"
        return sorted({DEFAULT, *(d.name for d in base.iterdir() if d.is_dir())} if base.is_dir() else {DEFAULT})

    @property
    def root(self) -> Path:
        return self.workspace.root / "datastores" / self.name

    # -- writing ----------------------------------------------------------------------------------
    def upload(self, src_dir: str | os.PathLike, target_path: str | None = None, overwrite: bool = False,
               show_progress: bool = True, progress: Progress | None = None) -> DataPath:
        """Copy the files under ``src_dir`` to ``target_path``; existing files are kept unless ``overwrite``."""
        src = Path(src_dir).expanduser()
        if not src.is_dir():
            raise DatasetError(f"upload: {src} is not a directory; use upload_files for single files")
        files = [p for p in sorted(src.rglob("*")) if p.is_file()]
        return self.upload_files([str(p) for p in files], relative_root=str(src), target_path=target_path,
                                 overwrite=overwrite, show_progress=show_progress, progress=progress)

    def upload_files(self, files: Iterable[str | os.PathLike], relative_root: str | None = None,
                     target_path: str | None = None, overwrite: bool = False, show_progress: bool = True,
                     progress: Progress | None = None) -> DataPath:
        """Copy ``files`` (named relative to ``relative_root``, else by file name) under ``target_path``."""
        target = check_relative(target_path)
        pairs = []
        for f in files:
            p = Path(f).expanduser()
            if not p.is_file():
                raise DatasetError(f"upload_files: {p} is not a file")
            rel = p.resolve().relative_to(Path(relative_root).resolve()) if relative_root else Path(p.name)
            pairs.append((p, self.root / target / rel))
        total = sum(p.stat().st_size for p, _ in pairs)
        report = byte_steps(progress if show_progress else None, f"uploading to {self.name}/{target}", total)
        done = 0
        for src, dest in pairs:
            if overwrite or not dest.exists():
                _copy_atomic(src, dest)
            done += src.stat().st_size
            report(done)
        return DataPath(self, target)

    # -- reading ----------------------------------------------------------------------------------
    def download(self, target_path: str | os.PathLike, prefix: str | None = None, overwrite: bool = False,
                 show_progress: bool = True) -> int:
        """Copy the files whose datastore path starts with ``prefix`` to ``target_path``; returns the count."""
        prefix = check_relative(prefix, "prefix")
        count = 0
        for path in sorted(self.root.rglob("*")) if self.root.is_dir() else []:
            rel = path.relative_to(self.root).as_posix()
            if path.is_file() and rel.startswith(prefix):
                dest = Path(target_path) / rel
                if dest.exists() and not overwrite:
                    continue
                _copy_atomic(path, dest)
                count += 1
        return count

    def path(self, path: str | None = None, data_reference_name: str | None = None) -> DataPath:
        return DataPath(self, check_relative(path, "path"), data_reference_name)

    def resolve(self, pattern: str) -> list[Path]:
        """Local files matching a datastore-relative path or glob (pure over the file system)."""
        rel = check_relative(pattern, "path")
        full = str(self.root / rel) if rel else str(self.root)
        matches = sorted(_glob.glob(full, recursive=True)) if any(c in rel for c in "*?[") else \
            ([full] if os.path.exists(full) else [])
        if not matches:
            raise DatasetError(f"nothing matches {pattern!r} in datastore {self.name!r} ({self.root}); "
                               "upload the files first (datastore.upload)")
        return [Path(m) for m in matches]

    def __repr__(self) -> str:
        return f"Datastore(name={self.name!r}, root={str(self.root)!r})"


class DataPath:
    """A path in a datastore (v1 ``DataReference``/``DataPath``): pass ``as_mount()`` as a job argument."""

    def __init__(self, datastore: Datastore, path_on_datastore: str, data_reference_name: str | None = None):
        self.datastore = datastore
        self.path_on_datastore = path_on_datastore
        self.data_reference_name = data_reference_name
        self.mode = "ro_mount"

    def _with_mode(self, mode: str) -> DataPath:
        out = DataPath(self.datastore, self.path_on_datastore, self.data_reference_name)
        out.mode = mode
        return out

    def as_mount(self) -> DataPath:
        return self._with_mode("ro_mount")

    def as_download(self, path_on_compute: str | None = None, overwrite: bool = False) -> DataPath:
        return self._with_mode("download")

    def local_path(self) -> Path:
        return self.datastore.root / self.path_on_datastore

    def to_input_spec(self, default_name: str) -> InputSpec:
        path = self.local_path()
        if not path.exists():
            raise DatasetError(f"{self} does not exist; upload files to it first")
        return InputSpec(self.data_reference_name or default_name,
                         type="uri_file" if path.is_file() else "uri_folder", path=str(path), mode=self.mode)

    def __str__(self) -> str:
        return f"$AZUREML_DATAREFERENCE_{self.datastore.name}/{self.path_on_datastore}"

    def __repr__(self) -> str:
        return f"DataPath(datastore={self.datastore.name!r}, path={self.path_on_datastore!r})"


def resolve_datastore_paths(path: Any) -> list[str]:
    """Dataset sources given as v1 does (a path, a glob, a URL, ``(datastore, "glob")``, ``datastore.path()``
    or a list of those) → local paths and URLs (pure over the file system)."""
    items = path if isinstance(path, list) else [path]
    out: list[str] = []
    for item in items:
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], Datastore):
            out += [str(p) for p in item[0].resolve(item[1])]
        elif isinstance(item, DataPath):
            out += [str(p) for p in item.datastore.resolve(item.path_on_datastore)]
        elif isinstance(item, (str, os.PathLike)):
            out.append(str(item))
        else:
            raise DatasetError(f"cannot read a dataset path from {item!r}; give a path, a glob, a URL or "
                               "(datastore, 'path/glob')")
    return out


def _copy_atomic(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp-{os.getpid()}")
    try:
        shutil.copyfile(src, tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
