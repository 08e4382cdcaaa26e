"""The model registry (Azure ML v1 ``Model`` names): ``<root>/models/<name>/<version>/``.

Each version holds the model's files and ``model.json`` (written last, so a version without it is
incomplete and ignored): framework, tags, properties, files with sha256, and lineage (run id,
experiment, snapshot, environment, metrics at registration). Writing versions is the engine's
(``registration``); this is the v1 face over it and the shared ``VersionedRegistry``.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trainers.model import Model as JobModel
from trainers.objects import hash_file

from .errors import RegistryError
from .inference import InferenceConfig  # noqa: F401 - v1 has it in azureml.core.model
from .record import skip_unreadable
from .registration import Framework, model_registry, register_model_files
from .registry import parse_ref

if TYPE_CHECKING:
    from .workspace import Workspace


@dataclass
class ResourceConfiguration:
    """What serving the model needs (v1 ``ResourceConfiguration``)."""

    cpu: float = 1
    memory_in_gb: float = 0.5
    gpu: int = 0

    def serialize(self) -> dict:
        return {"cpu": self.cpu, "memory_in_gb": self.memory_in_gb, "gpu": self.gpu}


class Model:
    Framework = Framework

    def __init__(self, workspace: Workspace, name: str | None = None, version: int | str | None = None,
                 id: str | None = None, _record: dict | None = None):
        """``Model(ws, "name")`` (latest), ``Model(ws, "name", 2)``, ``Model(ws, "name:2")``, ``Model(ws,
        "name@latest")`` or ``Model(ws, id="name:2")``."""
        if _record is None:
            ref_name, ref_version = parse_ref(id if id is not None else name or "")
            _record = model_registry(workspace.root).get(ref_name, version if ref_version is None else ref_version)
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
        return self._dir / self._record["model_path"]

    @property
    def _dir(self) -> Path:
        return model_registry(self.workspace.root).version_dir(self.name, self.version)

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
        record = register_model_files(
            workspace.root, model_path, model_name, tags=tags, properties=properties, description=description,
            framework=model_framework, framework_version=model_framework_version, lineage=lineage,
            resource_configuration=resource_configuration.serialize() if resource_configuration else None)
        return Model(workspace, _record=record)

    @staticmethod
    def list(workspace: Workspace, name: str | None = None, tags: list | None = None,
             properties: list | None = None, latest: bool = False) -> list[Model]:
        registry = model_registry(workspace.root)
        out = []
        for n in [name] if name else registry.names():
            versions = registry.versions(n)
            for record in skip_unreadable(versions[-1:] if latest else versions, lambda v, n=n: registry.get(n, v)):
                m = Model(workspace, _record=record)
                if _matches(m.tags, tags) and _matches(m.properties, properties):
                    out.append(m)
        return sorted(out, key=lambda m: m.created_time or 0, reverse=True)  # newest first, as `runs list`

    @staticmethod
    def get_model_path(model_name: str, version: int | None = None, _workspace: Workspace | None = None) -> str:
        """With a workspace, the registered model's file (or folder) in the store. Without one, where v1 looks
        inside a job or a service: ``AZUREML_MODEL_DIR``, then a run input named after the model."""
        if _workspace is None:
            return JobModel.get_model_path(model_name, version)
        return str(Model(_workspace, model_name, version).path)

    @staticmethod
    def deploy(workspace: Workspace, name: str, models: list, inference_config=None, deployment_config=None,
               deployment_target=None, overwrite: bool = False, show_output: bool = False):
        """Serve ``models`` as web service ``name`` (returns a ``Webservice``; see ``trainyard.deployment``)."""
        from .deployment import deploy  # start-up time: the registry commands do not load deployment
        from .service import Webservice  # start-up time

        record = deploy(workspace, name, models, inference_config, deployment_config, deployment_target, overwrite)
        return Webservice(workspace, record["name"])

    def download(self, target_dir: str | os.PathLike = ".", exist_ok: bool = False) -> str:
        """Copy the model's files to ``target_dir``, verifying each sha256; returns the model path."""
        src_dir = self._dir
        target = Path(target_dir)
        dest = target / self._record["model_path"]
        if dest.exists() and not exist_ok:
            raise RegistryError(f"{dest} already exists; pass exist_ok=True (CLI: --force) to overwrite it")
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
        self._record = model_registry(self.workspace.root).update(self.name, self.version, change)


def _matches(values: dict, wanted: list | None) -> bool:
    for item in wanted or []:
        key, value = (item, None) if isinstance(item, str) else (item[0], item[1])
        if key not in values or (value is not None and values[key] != str(value)):
            return False
    return True
