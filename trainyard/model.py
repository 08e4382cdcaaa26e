"""The model registry (Azure ML v1 ``Model`` names): ``<root>/models/<name>/<version>/``.

Each version holds the model's files and ``model.json`` (written last, so a version without it is
incomplete and ignored): framework, tags, properties, files with sha256, and lineage (run id,
experiment, snapshot, environment, metrics at registration). Versions are allocated atomically.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trainers._atomic import read_json, write_json_atomic
from trainers.objects import hash_file

from .errors import RegistryError
from .registry import allocate_version, check_name, list_versions, read_version

if TYPE_CHECKING:
    from .workspace import Workspace

RECORD = "model.json"


@dataclass
class ResourceConfiguration:
    """What serving the model needs (v1 ``ResourceConfiguration``)."""

    cpu: float = 1
    memory_in_gb: float = 0.5
    gpu: int = 0

    def serialize(self) -> dict:
        return {"cpu": self.cpu, "memory_in_gb": self.memory_in_gb, "gpu": self.gpu}


class _Framework:
    CUSTOM = "Custom"
    TENSORFLOW = "TensorFlow"
    SCIKITLEARN = "ScikitLearn"
    ONNX = "Onnx"
    TFKERAS = "TfKeras"
    PYTORCH = "PyTorch"
    MULTI = "Multi"

    @classmethod
    def parse(cls, value: str | None) -> str:
        if value is None:
            return cls.CUSTOM
        for attr in ("CUSTOM", "TENSORFLOW", "SCIKITLEARN", "ONNX", "TFKERAS", "PYTORCH", "MULTI"):
            canonical = getattr(cls, attr)
            if str(value).lower() in (attr.lower(), canonical.lower()):
                return canonical
        raise RegistryError(f"unknown model framework {value!r}; use one of Custom, TensorFlow, "
                            "ScikitLearn, Onnx, TfKeras, PyTorch, Multi")


class Model:
    Framework = _Framework

    def __init__(self, workspace: Workspace, name: str | None = None, version: int | str | None = None,
                 id: str | None = None, _record: dict | None = None):
        if id is not None:
            name, _, version = id.partition(":")
        if _record is None:
            _record = load_model_record(workspace, check_name(name or ""), version)
        self.workspace = workspace
        self._record = _record

    # -- attributes -----------------------------------------------------------------------------
    name = property(lambda self: self._record["name"])
    version = property(lambda self: self._record["version"])
    id = property(lambda self: f"{self._record['name']}:{self._record['version']}")
    tags = property(lambda self: dict(self._record.get("tags") or {}))
    properties = property(lambda self: dict(self._record.get("properties") or {}))
    description = property(lambda self: self._record.get("description"))
    model_framework = property(lambda self: self._record.get("framework"))
    model_framework_version = property(lambda self: self._record.get("framework_version"))
    run_id = property(lambda self: (self._record.get("lineage") or {}).get("run_id"))
    created_time = property(lambda self: self._record.get("created"))

    @property
    def path(self) -> Path:
        """The registered model file or folder inside the registry."""
        return model_dir(self.workspace, self.name, self.version) / self._record["model_path"]

    def serialize(self) -> dict:
        return dict(self._record)

    def __repr__(self) -> str:
        return f"Model(id={self.id!r}, framework={self.model_framework!r})"

    # -- registry operations --------------------------------------------------------------------
    @staticmethod
    def register(workspace: Workspace, model_path: str | os.PathLike, model_name: str,
                 tags: dict | None = None, properties: dict | None = None, description: str | None = None,
                 model_framework: str | None = None, model_framework_version: str | None = None,
                 resource_configuration: ResourceConfiguration | None = None,
                 lineage: dict | None = None, **_unused: Any) -> Model:
        """Copy a local file or folder into the registry as the next version of ``model_name``."""
        check_name(model_name)
        src = Path(model_path)
        if not src.exists():
            raise RegistryError(f"model_path {src} does not exist; pass the file or folder to register")
        framework = _Framework.parse(model_framework)
        record: dict[str, Any] = {}

        def fill(vdir: Path, version: int) -> None:
            dest = vdir / src.name
            if src.is_dir():
                shutil.copytree(src, dest, symlinks=False)
            else:
                shutil.copy2(src, dest)
            files = [{"path": p.relative_to(vdir).as_posix(), "size": p.stat().st_size, "sha256": hash_file(p)}
                     for p in sorted(dest.rglob("*") if dest.is_dir() else [dest]) if p.is_file()]
            record.update(
                name=model_name, version=version, model_path=src.name, framework=framework,
                framework_version=model_framework_version, description=description,
                tags={k: str(v) for k, v in (tags or {}).items()},
                properties={k: str(v) for k, v in (properties or {}).items()},
                resource_configuration=resource_configuration.serialize() if resource_configuration else None,
                created=time.time(), files=files, lineage=lineage or {})
            write_json_atomic(vdir / RECORD, record)

        allocate_version(workspace.root / "models" / model_name, fill)
        return Model(workspace, _record=record)

    @staticmethod
    def list(workspace: Workspace, name: str | None = None, tags: list | None = None,
             properties: list | None = None, latest: bool = False) -> list[Model]:
        base = workspace.root / "models"
        names = [name] if name else sorted(d.name for d in base.iterdir()) if base.is_dir() else []
        out = []
        for n in names:
            versions = list_versions(base / n, RECORD)
            for v in (versions[-1:] if latest else versions):
                m = Model(workspace, _record=read_json(base / n / str(v) / RECORD))
                if _matches(m.tags, tags) and _matches(m.properties, properties):
                    out.append(m)
        return out

    @staticmethod
    def get_model_path(model_name: str, version: int | None = None, _workspace: Workspace | None = None) -> str:
        from .workspace import Workspace

        return str(Model(_workspace or Workspace.load(), model_name, version).path)

    def download(self, target_dir: str | os.PathLike = ".", exist_ok: bool = False) -> str:
        """Copy the model's files to ``target_dir``, verifying each sha256; returns the model path."""
        src_dir = model_dir(self.workspace, self.name, self.version)
        target = Path(target_dir)
        dest = target / self._record["model_path"]
        if dest.exists() and not exist_ok:
            raise RegistryError(f"{dest} already exists; pass exist_ok=True to overwrite it")
        for f in self._record["files"]:
            src = src_dir / f["path"]
            if hash_file(src) != f["sha256"]:
                raise RegistryError(f"registered file {src} does not match its recorded sha256; the "
                                    "registry copy is damaged, register the model again")
            out = target / f["path"]
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, out)
        return str(dest)

    def add_tags(self, tags: dict) -> None:
        self._update(lambda r: r.setdefault("tags", {}).update({k: str(v) for k, v in tags.items()}))

    def add_properties(self, properties: dict) -> None:
        self._update(lambda r: r.setdefault("properties", {}).update(
            {k: str(v) for k, v in properties.items()}))

    def _update(self, change) -> None:
        path = model_dir(self.workspace, self.name, self.version) / RECORD
        record = read_json(path)
        change(record)
        write_json_atomic(path, record)
        self._record = record


def _matches(values: dict, wanted: list | None) -> bool:
    for item in wanted or []:
        key, value = (item, None) if isinstance(item, str) else (item[0], item[1])
        if key not in values or (value is not None and values[key] != str(value)):
            return False
    return True


def model_dir(workspace: Workspace, name: str, version: int | str) -> Path:
    return workspace.root / "models" / name / str(version)


def load_model_record(workspace: Workspace, name: str, version: int | str | None) -> dict:
    try:
        return read_version(workspace.root / "models" / name, RECORD, version, "model",
                            "`trainyard models list` shows the registered models")
    except LookupError as exc:
        raise RegistryError(str(exc)) from None


def register_from_run(workspace: Workspace, run_id: str, config: dict) -> Model:
    """Register the model a job spec's ``register_model`` names (called at finalization)."""
    from .run import Run

    return Run.get(workspace, run_id).register_model(
        config["name"], config["path"], model_framework=config.get("framework"),
        model_framework_version=config.get("framework_version"), tags=config.get("tags"),
        properties=config.get("properties"), description=config.get("description"))
