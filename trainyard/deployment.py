"""Deploying models as web services (``Model.deploy``): files to a node, then the node's service supervisor.

The models' files and the entry script's source directory go to the node as content-addressed blobs
(only what the node lacks is sent), exactly like a run's snapshot; the node links them into
``services/<name>/`` and starts the service detached. The environment is built (or found) in the node's
environment cache, keyed by content like a run's.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trainers._atomic import read_json, write_bytes_atomic, write_json_atomic
from trainers.status import FAILED, TRANSITIONING

from .environment import compute_spec_hash
from .errors import TrainyardError, WebserviceException
from .inference import InferenceConfig, compute_model_environment_spec
from .registration import model_registry
from .registry import parse_ref
from .snapshot import store_manifest, take_snapshot
from .submission import sync_blobs
from .transport import open_node, select_node

if TYPE_CHECKING:
    from .workspace import Workspace

SERVICE_NAME = re.compile(r"^[a-z][a-z0-9-]{1,30}[a-z0-9]$")
KIND_NAMES = {"ACI": "Azure Container Instances", "AKS": "Azure Kubernetes Service"}
RECORD = "service.json"
KEYS = "keys.json"


@dataclass
class DeploymentConfiguration:
    """What ``*Webservice.deploy_configuration(...)`` returns: where and with which limits to serve."""

    kind: str = "Local"  # Local, ACI or AKS: the v1 class the notebook asked for
    port: int | None = None
    cpu_cores: float | None = None
    memory_gb: float | None = None
    auth_enabled: bool = False
    tags: dict = field(default_factory=dict)
    description: str | None = None
    compute_target: str | None = None  # Trainyard: the compute to serve on (default: local)
    max_request_bytes: int | None = None  # Trainyard: bigger bodies get a 413 (default 16 MiB)
    replica_max_concurrent_requests: int | None = None  # calls inside run() at once (v1 AKS's name)

    def serialize(self) -> dict:
        return asdict(self)


def config_from(kind: str, auth_default: bool, port=None, cpu_cores=None, memory_gb=None, auth_enabled=None,
            tags=None, description=None, compute_target=None, max_request_bytes=None,
            replica_max_concurrent_requests=None, **_unused) -> DeploymentConfiguration:
    concurrency = replica_max_concurrent_requests
    if concurrency is not None and (isinstance(concurrency, bool) or not isinstance(concurrency, int)
                                    or concurrency < 1):
        raise WebserviceException(f"replica_max_concurrent_requests={concurrency!r}: give a whole number of "
                                  "run() calls the server may make at once (1 or more), or leave it out for "
                                  "one at a time, Azure ML's default")
    return DeploymentConfiguration(kind, port, cpu_cores, memory_gb,
                                   auth_default if auth_enabled is None else bool(auth_enabled), dict(tags or {}),
                                   description, getattr(compute_target, "name", compute_target), max_request_bytes,
                                   concurrency)


def load_service(workspace: Workspace, name: str) -> dict:
    """The stored record of service ``name`` (raises WebserviceException when there is none)."""
    record = read_json(workspace.root / "services" / name / RECORD)
    if record is None:
        known = ", ".join(sorted(list_services_names(workspace))) or "none"
        raise WebserviceException(f"no web service named {name!r} in workspace {workspace.name!r} (services: "
                                  f"{known}); deploy one with Model.deploy or `trainyard models deploy`")
    return record


def list_services_names(workspace: Workspace) -> list[str]:
    base = workspace.root / "services"
    return sorted(d.name for d in base.iterdir() if (d / RECORD).is_file()) if base.is_dir() else []


def list_services(workspace: Workspace) -> list[dict]:
    """Every service record (as stored: no node is contacted)."""
    return [load_service(workspace, n) for n in list_services_names(workspace)]


def write_service(workspace: Workspace, record: dict, keys: dict | None = None) -> None:
    base = workspace.root / "services" / record["name"]
    if keys is not None:
        write_bytes_atomic(base / KEYS, json.dumps(keys).encode(), mode=0o600)
    write_json_atomic(base / RECORD, {**record, "updated": time.time()})



def check_service_name(name: str) -> str:
    if not isinstance(name, str) or not SERVICE_NAME.match(name):
        raise WebserviceException(f"service name {name!r} is invalid: use 3-32 lowercase letters, digits and '-', "
                                  "starting with a letter and ending with a letter or digit (as Azure ML does)")
    return name


def deploy(workspace: Workspace, name: str, models: list, inference_config: InferenceConfig | None = None,
           deployment_config: DeploymentConfiguration | None = None, deployment_target: Any = None,
           overwrite: bool = False, progress: Callable[[str], None] | None = None,
           _environment: dict | None = None) -> dict:
    """Start serving ``models`` (``Model`` objects or "name:version" ids) as service ``name``; returns its
    record at once (``Webservice.wait_for_deployment`` follows it)."""
    say = progress or (lambda _msg: None)
    check_service_name(name)
    models = [_Deployed.of(workspace, m) for m in models]
    cfg = deployment_config or DeploymentConfiguration()
    compute = getattr(deployment_target, "name", deployment_target) or cfg.compute_target or "local"
    compute_config = workspace.compute_config(compute)
    previous = load_service(workspace, name) if name in list_services_names(workspace) else None
    if previous is not None and not overwrite:
        raise WebserviceException(f"service {name!r} already exists (on {previous['compute']}); pass overwrite=True "
                                  f"(CLI: --force) to replace it, or `trainyard services delete {name}`")
    if previous is not None and previous["compute"] != compute:
        delete_service(workspace, previous)
        previous = None
    environment, framework, entry = _plan(models, inference_config, _environment)
    if previous is not None:
        node = open_node(workspace, compute, previous["node"]["name"])
    else:
        node, warnings = select_node(workspace, compute)
        for warning in warnings:
            say(f"warning: {warning}")
    address, host = _address(workspace, compute, compute_config, node)
    note = None
    if cfg.kind in KIND_NAMES:
        note = (f"{cfg.kind.title()}Webservice.deploy_configuration: Trainyard has no {KIND_NAMES[cfg.kind]}; the "
                f"service runs on compute {compute!r} (node {node.name})"
                + (", with cpu_cores/memory_gb as limits (CPU affinity, a resident-memory watchdog)"
                   if cfg.cpu_cores or cfg.memory_gb else ""))
        say(note)
    say(f"deploying {name} on {compute} ({node.name}): models {', '.join(m.id for m in models) or 'none'}, "
        f"environment {environment['hash'][:12]}")
    stored = [_store_model(workspace, m) for m in models]
    source_oid = None
    if inference_config is not None:
        inference_config.validate()
        source_oid = _snapshot(workspace, inference_config.source_directory)
    sync_blobs(node, workspace.objects, [s["manifest"] for s in stored] + ([source_oid] if source_oid else []), say)
    keys = {"auth_enabled": cfg.auth_enabled, "primary": secrets.token_urlsafe(32),
            "secondary": secrets.token_urlsafe(32)} if cfg.auth_enabled else {"auth_enabled": False}
    if previous is not None and cfg.auth_enabled and previous.get("auth_enabled"):
        keys = _old_keys(workspace, name) or keys
    port = cfg.port or (previous or {}).get("port") or 0
    spec = {"environment": environment["spec"], "python": getattr(node, "python", None), "uv": node.uv_path(),
            "entry_script": entry, "framework": framework, "port": port, "host": host,
            "env": environment.get("variables") or {}, "cpu_cores": cfg.cpu_cores, "memory_gb": cfg.memory_gb,
            "max_request_bytes": cfg.max_request_bytes,
            "max_concurrent_requests": cfg.replica_max_concurrent_requests}
    record = {"name": name, "kind": cfg.kind, "compute": compute, "compute_type": compute_config["type"],
              "node": node.describe(), "address": address, "host": host, "port": None, "state": TRANSITIONING,
              "reason": f"starting on {node.name}", "restarts": 0, "auth_enabled": cfg.auth_enabled,
              "models": [m.id for m in models], "framework": framework, "entry_script": entry,
              "source_directory": str(inference_config.source_directory.resolve()) if inference_config else None,
              "environment": environment, "deployment_config": cfg.serialize(), "tags": cfg.tags,
              "description": cfg.description, "note": note,
              "created": (previous or {}).get("created") or time.time()}
    write_service(workspace, record, keys)  # first, so an interrupted deploy is still known (and deletable)
    try:
        node.call("service_deploy", {"name": name, "spec": spec, "keys": keys, "source": source_oid,
                                     "models": [{k: s[k] for k in ("name", "version", "manifest")} for s in stored]})
    except BaseException as exc:
        write_service(workspace, {**record, "state": FAILED, "reason": f"deployment did not start: {exc!r}"})
        raise
    return record


def redeploy(workspace: Workspace, record: dict, models: list | None, inference_config: InferenceConfig | None,
             auth_enabled: bool | None, tags: dict | None, description: str | None) -> dict:
    """``Webservice.update``: deploy again, changing only what is given; returns the new record."""
    cfg = DeploymentConfiguration(**record["deployment_config"])
    cfg.port = record.get("port") or cfg.port
    if auth_enabled is not None:
        cfg.auth_enabled = auth_enabled
    if tags is not None:
        cfg.tags = dict(tags)
    if description is not None:
        cfg.description = description
    environment = None
    if inference_config is None and record.get("entry_script"):
        inference_config = InferenceConfig(record["entry_script"], record["source_directory"])
        environment = record["environment"]
    return deploy(workspace, record["name"], models if models is not None else record["models"], inference_config,
                  cfg, record["compute"], overwrite=True, _environment=environment)


def delete_service(workspace: Workspace, record: dict) -> None:
    """Stop a service on its node (the port is free afterwards) and remove its record."""
    try:
        open_node(workspace, record["compute"], (record.get("node") or {}).get("name")).call(
            "service_stop", {"name": record["name"]})
    except TrainyardError as exc:
        raise WebserviceException(f"could not stop service {record['name']!r} on its node ({exc}); nothing was "
                                  "removed, try again when the node answers") from exc
    shutil.rmtree(workspace.root / "services" / record["name"], ignore_errors=True)


def store_source(workspace: Workspace, node, source_directory: Path) -> str:
    """Snapshot a source directory and send the node what it lacks; returns the manifest oid."""
    oid = _snapshot(workspace, source_directory)
    sync_blobs(node, workspace.objects, [oid])
    return oid


def _snapshot(workspace: Workspace, source_directory: Path) -> str:
    return take_snapshot(source_directory, workspace.objects, workspace.limits["max_snapshot_bytes"],
                         workspace.limits["max_snapshot_files"]).oid


def _plan(models: list[_Deployed], inference_config: InferenceConfig | None,
          environment: dict | None) -> tuple[dict, str | None, str | None]:
    """(environment {name, hash, spec, variables}, no-code framework or None, entry script or None)."""
    if inference_config is None:
        if len(models) != 1:
            raise WebserviceException(f"a deployment without an InferenceConfig serves exactly one model, not "
                                      f"{len(models)}; pass inference_config=InferenceConfig('score.py', ...)")
        spec = compute_model_environment_spec(models[0].record)
        return ({"name": f"{models[0].name}-nocode", "hash": compute_spec_hash(spec), "spec": spec},
                models[0].record.get("framework"), None)
    if environment is not None:
        return environment, None, inference_config.entry_script
    env = inference_config.environment
    if env is not None:
        spec = env.compute_spec()
        environment = {"name": env.name, "version": env.version, "hash": compute_spec_hash(spec), "spec": spec,
                       "variables": dict(env.environment_variables)}
    elif models:
        spec = compute_model_environment_spec(models[0].record)
        environment = {"name": f"{models[0].name}-default", "hash": compute_spec_hash(spec), "spec": spec}
    else:
        spec = {"kind": "current"}
        environment = {"name": "current-interpreter", "hash": compute_spec_hash(spec), "spec": spec}
    return environment, None, inference_config.entry_script


@dataclass
class _Deployed:
    """A registered model version as deployment sees it: its record and its folder in the registry."""

    record: dict
    folder: Path

    name = property(lambda self: self.record["name"])
    version = property(lambda self: self.record["version"])
    id = property(lambda self: f"{self.record['name']}:{self.record['version']}")

    @classmethod
    def of(cls, workspace: Workspace, model: Any) -> _Deployed:
        """From a ``Model`` (anything with ``serialize()``) or a "name[:version]" id."""
        registry = model_registry(workspace.root)
        record = model.serialize() if hasattr(model, "serialize") else registry.get(*parse_ref(str(model)))
        return cls(record, registry.version_dir(record["name"], record["version"]))


def _store_model(workspace: Workspace, model: _Deployed) -> dict:
    """The model's registered files as a manifest in the workspace store (the registry copy is checked)."""
    vdir = model.folder
    entries = []
    for f in model.record["files"]:
        oid, _ = workspace.objects.add_file(vdir / f["path"])
        if oid != f["sha256"]:
            raise WebserviceException(f"registered file {vdir / f['path']} does not match its recorded sha256; "
                                      "the registry copy is damaged, register the model again")
        entries.append({"path": f["path"], "size": f["size"], "mode": 0o644, "oid": oid})
    return {"name": model.name, "version": model.version, "manifest": store_manifest(workspace.objects, entries)[0]}


def _address(workspace: Workspace, compute: str, config: dict, node) -> tuple[str | None, str]:
    """(the address the desk reaches the service at, or None for a forward; the address to listen on)."""
    if config["type"] == "local":
        return "127.0.0.1", "127.0.0.1"
    raw = next((n for n in config.get("nodes", []) if n.get("name", n.get("host")) == node.name), {})
    address = raw.get("service_address") or config.get("service_address")
    return (address, "0.0.0.0") if address else (None, "127.0.0.1")


def _old_keys(workspace: Workspace, name: str) -> dict | None:
    return read_json(workspace.root / "services" / name / "keys.json")
