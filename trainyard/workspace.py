"""The workspace: where runs, models, datasets and environments are stored, and which computes exist.

Config lives in ``.trainyard/config.json``, found like Azure ML's ``Workspace.from_config()``: the given
path, else ``.trainyard/config.json`` in the current directory or any parent. With no config, ``load()``
finds the nearest ``.trainyard/`` store upwards the same way (like git finds its repository), else uses the
embedded default: a store in ``./.trainyard/`` and one ``local`` compute.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from trainers._atomic import read_json, write_json_atomic
from trainers.objects import ObjectStore

from .errors import ComputeTargetException, WorkspaceError
from .runstore import RunStore

CONFIG_DIR = ".trainyard"
CONFIG_NAME = "config.json"
DEFAULT_LIMITS = {"max_snapshot_bytes": 300 * 1024 * 1024, "max_snapshot_files": 2000,
                  "max_output_file_bytes": 20 << 30, "cancel_grace_seconds": 10,
                  "not_responding_after_seconds": 30, "min_free_disk_bytes": 1 << 30,
                  "not_responding_timeout": 900}
LOCAL_COMPUTE = {"type": "local", "root": "~/.trainyard"}
KNOWN_KEYS = {"name", "root", "computes", "registry", "limits", "storage", "location", "subscription_id",
              "resource_group"}
LOCAL = "local"  # what location, subscription_id and resource_group say when the config does not


STORE_MARKERS = ("experiments", "models", "datasets", "environments")  # a node root has envs/, runs/ instead


def is_store(directory: Path) -> bool:
    """Whether ``directory`` (a ``.trainyard/``) holds a workspace store, as opposed to a node root."""
    return any((directory / m).is_dir() for m in STORE_MARKERS)


def find_workspace_dir(start: Path | None = None) -> tuple[Path | None, Path | None]:
    """Like git finding its repository: the nearest directory at or above ``start`` whose ``.trainyard/``
    has a config or a store; returns (config file or None, directory or None)."""
    here = (start or Path.cwd()).resolve()
    for d in [here, *here.parents]:
        config = d / CONFIG_DIR / CONFIG_NAME
        if config.is_file():
            return config, d
        if is_store(d / CONFIG_DIR):
            return None, d
    return None, None


def find_config(path: str | os.PathLike | None = None) -> tuple[Path | None, list[Path]]:
    """Locate a config file; returns (found or None, every place looked at)."""
    looked: list[Path] = []
    if path is not None:
        p = Path(path).expanduser().resolve()
        if not p.exists():
            raise WorkspaceError(f"workspace path {path} does not exist; give the directory that holds "
                                 ".trainyard/ (or its config.json), or leave out -w/TRAINYARD_WORKSPACE to "
                                 "use the workspace found from the current directory upwards")
        candidates = [p] if p.suffix == ".json" else [p / CONFIG_DIR / CONFIG_NAME, p / CONFIG_NAME]
        for c in candidates:
            looked.append(c)
            if c.is_file():
                return c, looked
        return None, looked
    here = Path.cwd().resolve()
    for d in [here, *here.parents]:
        c = d / CONFIG_DIR / CONFIG_NAME
        looked.append(c)
        if c.is_file():
            return c, looked
    return None, looked


def parse_config(data: Any, source: str) -> dict:
    """Validate a config mapping (pure); returns it with defaults filled in."""
    if not isinstance(data, dict):
        raise WorkspaceError(f"{source}: the workspace config must be a JSON object")
    unknown = sorted(set(data) - KNOWN_KEYS)
    if unknown:
        raise WorkspaceError(
            f"{source}: unknown key {unknown[0]!r}; allowed keys are {', '.join(sorted(KNOWN_KEYS))}"
        )
    computes = data.get("computes") or {}
    if not isinstance(computes, dict):
        raise WorkspaceError(f"{source}: 'computes' must be an object of name -> compute")
    for name, compute in computes.items():
        if not isinstance(compute, dict) or compute.get("type") not in ("local", "ssh", "slurm"):
            raise WorkspaceError(f"{source}: compute {name!r} needs a 'type' of local, ssh or slurm")
        nodes = compute.get("nodes", [])
        if not isinstance(nodes, list) or not all(isinstance(n, dict) for n in nodes):
            raise WorkspaceError(f"{source}: 'computes.{name}.nodes' must be a list of node objects")
    for key in ("name", "root", "registry"):
        if data.get(key) is not None and not isinstance(data[key], str):
            raise WorkspaceError(f"{source}: {key!r} must be a string, got {type(data[key]).__name__}")
    limits = data.get("limits") or {}
    if not isinstance(limits, dict) or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                               for v in limits.values()):
        raise WorkspaceError(f"{source}: 'limits' must be an object of name -> number")
    out = dict(data)
    out.setdefault("name", "default")
    out.setdefault("root", ".")
    out["computes"] = {"local": dict(LOCAL_COMPUTE), **computes}
    out["limits"] = {**DEFAULT_LIMITS, **(data.get("limits") or {})}
    return out


class Workspace:
    """A Trainyard workspace (Azure ML v1 ``Workspace`` names)."""

    def __init__(self, name: str, root: str | os.PathLike, config: dict | None = None,
                 config_path: Path | None = None):
        self.name = name
        self.root = Path(root).expanduser().resolve()
        self._config = parse_config({**(config or {}), "name": name}, str(config_path or "<embedded>"))
        self.config_path = config_path

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def from_config(cls, path: str | os.PathLike | None = None, **_ignored: Any) -> Workspace:
        """Load the workspace config found from ``path`` or the current directory upwards."""
        found, looked = find_config(path)
        if found is None:
            places = "\n  ".join(str(p) for p in looked[:6]) + ("\n  ..." if len(looked) > 6 else "")
            raise WorkspaceError(
                "no workspace config found; looked at:\n  " + places +
                "\nRun `trainyard workspace init` to create one (or `trainyard workspace import-stack`)."
            )
        cfg = parse_config(load_config_dict(found), str(found))
        root = Path(cfg["root"]).expanduser()
        if not root.is_absolute():
            root = found.parent / root
        return cls(cfg["name"], root, cfg, found)

    @classmethod
    def load(cls, path: str | os.PathLike | None = None) -> Workspace:
        """The configured workspace, else the embedded default in ``./.trainyard``."""
        if path is not None:
            found, _ = find_config(path)
            return cls.from_config(found) if found else cls.embedded(Path(path))
        found, directory = find_workspace_dir()
        if found is not None:
            return cls.from_config(found)
        return cls.embedded(directory or Path.cwd())

    @classmethod
    def embedded(cls, directory: str | os.PathLike | None = None) -> Workspace:
        directory = Path(directory or Path.cwd())
        return cls("default", directory / CONFIG_DIR, {}, None)

    @classmethod
    def init(cls, directory: str | os.PathLike | None = None, name: str = "default",
             force: bool = False) -> Workspace:
        """Write ``.trainyard/config.json`` in ``directory`` (the embedded default made explicit)."""
        directory = Path(directory or Path.cwd()).resolve()
        path = directory / CONFIG_DIR / CONFIG_NAME
        if path.exists() and not force:
            raise WorkspaceError(f"{path} already exists; pass --force to overwrite it")
        write_config(path, {"name": name, "root": ".", "computes": {"local": dict(LOCAL_COMPUTE)}})
        return cls.from_config(path)

    # -- description --------------------------------------------------------------------------
    @property
    def compute_targets(self) -> dict[str, Any]:
        """``{name: ComputeTarget}`` (v1)."""
        from .compute import ComputeTarget  # start-up time: commands that load a workspace need no transport

        return {n: ComputeTarget(self, n) for n in self._config["computes"]}

    @property
    def webservices(self) -> dict[str, Any]:
        from .service import Webservice  # start-up time: loading a workspace does not load deployment

        return {s.name: s for s in Webservice.list(self)}

    def compute_config(self, name: str) -> dict:
        try:
            return self._config["computes"][name]
        except KeyError:
            known = ", ".join(sorted(self._config["computes"]))
            raise ComputeTargetException(
                f"compute {name!r} not found in workspace {self.name!r}; known computes: {known}. "
                "Attach machines with `trainyard compute attach`."
            ) from None

    # -- v1 attributes notebooks print or index ------------------------------------------------------
    location = property(lambda self: self._config.get("location", LOCAL))
    subscription_id = property(lambda self: self._config.get("subscription_id", LOCAL))
    resource_group = property(lambda self: self._config.get("resource_group", LOCAL))

    # ws.experiments and ws.models are not here: Experiment and Model import the workspace, and the layer
    # rules forbid the cycle (see README, Limitations); Model.list(ws, latest=True) serves.
    @property
    def datasets(self) -> dict[str, Any]:
        from .dataset import Dataset  # start-up time: loading a workspace does not load datasets

        return {ds.name: ds for ds in Dataset.list(self)}

    @property
    def experiments(self) -> dict[str, Any]:
        """``{name: Experiment}`` for every experiment with runs in the store (v1)."""
        from .experiment import Experiment  # start-up time: loading a workspace does not load runs

        return {name: Experiment(self, name) for name in RunStore(self.root).experiment_names()}

    @property
    def models(self) -> dict[str, Any]:
        """``{name: Model}``, each at its latest version (v1)."""
        from .model import Model  # start-up time: nor the model registry

        return {m.name: m for m in Model.list(self, latest=True)}

    @property
    def environments(self) -> dict[str, Any]:
        from .environment import Environment  # start-up time: nor environments (yaml)

        return Environment.list(self)

    def get_default_datastore(self) -> Any:
        from .datastore import Datastore  # start-up time: loading a workspace does not load datastores

        return Datastore.get_default(self)

    @property
    def datastores(self) -> dict[str, Any]:
        from .datastore import Datastore  # start-up time: nor datastores

        return {n: Datastore(self, n) for n in Datastore.list_names(self)}

    @property
    def limits(self) -> dict:
        return self._config["limits"]

    @property
    def objects(self) -> ObjectStore:
        return ObjectStore(self.root / "objects")

    def get_details(self) -> dict:
        return {
            "name": self.name,
            "root": str(self.root),
            "config": str(self.config_path) if self.config_path else None,
            "computes": {n: {"type": c.get("type"), "nodes": len(c.get("nodes", []))}
                         for n, c in self._config["computes"].items()},
            "registry": self._config.get("registry"),
            "limits": self.limits,
        }

    # -- changes ------------------------------------------------------------------------------
    def save_node(self, pool: str, node: dict) -> None:
        """Add ``node`` to the SSH pool ``pool`` (created if needed; a node of the same name is replaced)
        and write the config file — the embedded default is written out first."""
        def change(config: dict) -> None:
            target = config.setdefault("computes", {}).setdefault(pool, {"type": "ssh", "nodes": []})
            if target.get("type") != "ssh":
                raise WorkspaceError(f"compute {pool!r} exists and is of type {target.get('type')!r}, not an "
                                     "SSH pool")
            target["nodes"] = [n for n in target.get("nodes", []) if n.get("name") != node["name"]] + [node]

        self._update_config(change)

    def save_compute(self, name: str, compute: dict | None) -> None:
        """Save ``compute`` as ``name`` (replacing one of the same type; None removes it) and write the config
        file — the embedded default is written out first."""
        def change(config: dict) -> None:
            computes = config.setdefault("computes", {})
            existing = computes.get(name)
            if compute is None:
                computes.pop(name, None)
                return
            if existing and existing.get("type") != compute["type"]:
                raise WorkspaceError(f"compute {name!r} exists and is of type {existing.get('type')!r}, not "
                                     f"{compute['type']}; choose another name")
            computes[name] = compute

        self._update_config(change)

    def _update_config(self, change: Callable[[dict], None]) -> None:
        """Apply ``change`` to the config file's content and write it (the embedded default first)."""
        if self.config_path is None:
            written = Workspace.init(self.root.parent, name=self.name)
            self.config_path, self._config = written.config_path, written._config
        config = load_config_dict(self.config_path)
        change(config)
        write_config(self.config_path, config)
        self._config = parse_config({**config, "name": self.name}, str(self.config_path))

    def compute_names(self) -> list[str]:
        return list(self._config["computes"])

    def __repr__(self) -> str:
        return f"Workspace(name={self.name!r}, root={str(self.root)!r})"


def write_config(path: str | os.PathLike, config: dict) -> None:
    """Validate and atomically write a workspace config."""
    parse_config(config, str(path))
    write_json_atomic(path, config)


def load_config_dict(path: str | os.PathLike) -> dict:
    try:
        return read_json(path, default={})
    except (ValueError, UnicodeDecodeError) as exc:
        raise WorkspaceError(f"{path} is not valid JSON ({str(exc)[:80]}); fix it, or recreate it with "
                             "`trainyard workspace init --force`") from None
    except IsADirectoryError:
        raise WorkspaceError(f"{path} is a directory; the workspace config must be a JSON file") from None
