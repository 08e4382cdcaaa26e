"""Registering models: a local file or folder, or a run's output with its lineage, as the next version.

``register_run_output`` is the one "register what a run produced" step, used by ``Run.register_model``
and by the tracker when a job's ``register_model`` asks for it at the end of the run. A version is
``<root>/models/<name>/<version>/`` holding the files and ``model.json`` (written last): framework, tags,
properties, files with sha256, and lineage (run id, experiment, snapshot, environment, metrics).
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

from trainers._atomic import write_json_atomic
from trainers.objects import hash_file
from trainers.status import is_terminal

from .errors import RegistryError
from .metrics import compute_metrics, load_records
from .registry import VersionedRegistry, check_name
from .runstore import RunStore

RECORD = "model.json"


class Framework:
    """Model frameworks (v1 ``Model.Framework``)."""

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


def model_registry(root: str | os.PathLike) -> VersionedRegistry:
    return VersionedRegistry(Path(root) / "models", RECORD, "model",
                             "`trainyard models list` shows the registered models")


def register_model_files(root: str | os.PathLike, model_path: str | os.PathLike, name: str, *,
                         tags: dict | None = None, properties: dict | None = None, description: str | None = None,
                         framework: str | None = None, framework_version: str | None = None,
                         resource_configuration: dict | None = None, lineage: dict | None = None) -> dict:
    """Copy a file or folder into the registry as the next version of ``name``; returns its record."""
    check_name(name)
    src = Path(model_path)
    if not src.exists():
        raise RegistryError(f"model_path {src} does not exist; pass the file or folder to register")
    framework = Framework.parse(framework)
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
            name=name, version=version, model_path=src.name, framework=framework,
            framework_version=framework_version, description=description,
            tags={k: str(v) for k, v in (tags or {}).items()},
            properties={k: str(v) for k, v in (properties or {}).items()},
            resource_configuration=resource_configuration, created=time.time(), files=files,
            lineage=lineage or {})
        write_json_atomic(vdir / RECORD, record)

    model_registry(root).allocate(name, fill)
    return record


def register_run_output(store: RunStore, run_id: str, name: str, model_path: str, **options: Any) -> dict:
    """Register a file or folder a finished run produced (``outputs/...``) with its lineage; returns the
    model record. ``options`` are those of ``register_model_files``. The error lists what the run has."""
    record = store.load(run_id)
    if not is_terminal(record["status"]):
        raise RegistryError(f"run {run_id} is {record['status']}; wait for it to complete before "
                            "registering its model")
    run_dir = store.run_dir(run_id)
    rel = model_path.strip("/")
    path = run_dir / rel
    names = store.file_names(run_id)
    if not path.exists() or not path.resolve().is_relative_to(run_dir.resolve()) or \
            not (rel in names or any(n.startswith(rel + "/") for n in names)):
        listing = ", ".join(n for n in names if n.startswith("outputs/")) or "no files under outputs/"
        raise RegistryError(f"run {run_id} did not produce {model_path!r}; it produced: {listing}. "
                            "Save the model under ./outputs in the script and register that path.")
    metrics = {k: v for k, v in compute_metrics(load_records(run_dir / "metrics.jsonl")).items()
               if isinstance(v, (int, float, str))}
    lineage = {"run_id": run_id, "experiment": record["experiment"], "snapshot": record.get("snapshot"),
               "environment": record.get("environment"), "metrics": metrics, "model_path": rel}
    return register_model_files(store.root, path, name, lineage=lineage, **options)
