"""Environments: what a run needs installed (Azure ML v1 ``Environment`` / ``CondaDependencies`` names).

A spec (conda file, requirements file, CondaDependencies, image) is reduced to a canonical build spec
``{"python": "3.11" | None, "requirements": [...], "image": ...}``; its sha256 is the environment hash.
Reuse is keyed by that content, never by name or version. Nodes build it with uv (see
``trainers.envbuild``); conda packages that have a pip equivalent are mapped, conda-only ones are an error.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from trainers._atomic import write_json_atomic

from .curated import NAMES as CURATED_NAMES
from .curated import render_closest, resolve_curated
from .errors import EnvironmentError_
from .record import skip_unreadable
from .registry import VersionedRegistry, parse_ref

if TYPE_CHECKING:
    from .workspace import Workspace

RECORD = "environment.json"
CONDA_TO_PIP = {
    "pytorch": "torch",
    "pytorch-cpu": "torch",
    "tensorflow-gpu": "tensorflow",
    "tensorflow-cpu": "tensorflow",
    "py-xgboost": "xgboost",
    "py-xgboost-cpu": "xgboost",
    "pillow-simd": "pillow",
    "pytables": "tables",
    "matplotlib-base": "matplotlib",
    "lightgbm": "lightgbm",
}
# Provided by the venv itself or by the pip wheels (CUDA libraries ship inside torch/tensorflow wheels).
PROVIDED = {"python", "pip", "setuptools", "wheel", "cudatoolkit", "cuda-toolkit", "cudnn", "nccl",
            "nomkl", "cpuonly", "pytorch-cuda", "mkl", "blas", "libblas", "openblas"}
CONDA_ONLY = {"r-base", "r-essentials", "gcc", "gxx", "gfortran", "libgcc-ng", "libstdcxx-ng", "openjdk",
              "ffmpeg", "cudatoolkit-dev", "git", "make", "nodejs", "graphviz", "libiconv", "openmpi"}
_CONDA_SPEC = re.compile(r"^(?:[\w.-]+::)?([A-Za-z0-9_.\-]+)\s*(.*)$")
_REQ_NAME = re.compile(r"^([A-Za-z0-9][A-Za-z0-9_.\-]*)")


def render_pip_requirement(conda_spec: str) -> str | None:
    """Translate one conda package spec to a pip requirement (pure). None when nothing to install."""
    m = _CONDA_SPEC.match(conda_spec.strip())
    if not m:
        raise EnvironmentError_(f"cannot read conda package spec {conda_spec!r}")
    name, version = m.group(1).lower(), m.group(2).replace(" ", "")
    if name in PROVIDED:
        return None
    if name in CONDA_ONLY or name.startswith("r-"):
        raise EnvironmentError_(
            f"conda package {name!r} has no pip equivalent and this node has no conda; remove it from "
            "the conda file, install it on the node, or use a compute with an image that has it"
        )
    name = CONDA_TO_PIP.get(name, name)
    if not version:
        return name
    if version.startswith("=") and not version.startswith("=="):
        version = version[1:]
    if version[0].isdigit():  # conda "numpy=1.26" is a prefix match: 1.26.*
        version = "==" + version.rstrip("*").rstrip(".") + ".*"
    return name + version


def canonical_requirements(lines: list[str]) -> list[str]:
    """Strip comments/blank lines; keep option lines in order, sort plain requirements (pure)."""
    options, reqs = [], []
    for raw in lines:
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        (options if line.startswith("-") else reqs).append(line)
    return options + sorted(set(reqs), key=str.lower)


def split_azureml(requirements: list[str]) -> tuple[list[str], list[str]]:
    """Requirements without the Azure ML SDK packages (``azureml-*``), and those dropped (pure): jobs get
    the ``azureml`` API from Trainyard's compatibility package, and the SDK would pull in Azure clients."""
    kept, dropped = [], []
    for req in requirements:
        m = _REQ_NAME.match(req)
        name = m.group(1).lower().replace("_", "-") if m else ""
        (dropped if name == "azureml" or name.startswith("azureml-") else kept).append(req)
    return kept, dropped


class CondaDependencies:
    """Conda-style dependency list (v1 ``CondaDependencies``)."""

    def __init__(self, conda_packages: list[str] | None = None, pip_packages: list[str] | None = None,
                 python_version: str | None = None, channels: list[str] | None = None):
        self.conda_packages = list(conda_packages or [])
        self.pip_packages = list(pip_packages or [])
        self.python_version = python_version
        self.channels = list(channels or [])

    @classmethod
    def create(cls, pip_packages: list[str] | None = None, conda_packages: list[str] | None = None,
               python_version: str | None = None, pin_sdk_version: bool = True,
               pip_indexurl: str | None = None) -> CondaDependencies:
        pip = list(pip_packages or [])
        if pip_indexurl:
            pip.insert(0, f"--index-url {pip_indexurl}")
        return cls(conda_packages, pip, python_version)

    @classmethod
    def from_yaml_text(cls, text: str, source: str = "<conda file>") -> CondaDependencies:
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise EnvironmentError_(f"{source} is not valid YAML: {exc}") from exc
        if not isinstance(data, dict) or not isinstance(data.get("dependencies", []), list):
            raise EnvironmentError_(f"{source}: a conda file needs a 'dependencies' list")
        conda, pip, python = [], [], None
        for dep in data.get("dependencies") or []:
            if isinstance(dep, dict) and "pip" in dep:
                pip.extend(str(p) for p in dep["pip"] or [])
            elif isinstance(dep, str):
                m = re.match(r"^python\s*[=<>]*\s*([\d.]+)", dep)
                if m:
                    python = m.group(1)
                else:
                    conda.append(dep)
            else:
                raise EnvironmentError_(f"{source}: cannot read dependency {dep!r}")
        return cls(conda, pip, python, data.get("channels"))

    def add_pip_package(self, package: str) -> None:
        self.pip_packages.append(package)

    def add_conda_package(self, package: str) -> None:
        self.conda_packages.append(package)

    def set_python_version(self, version: str) -> None:
        self.python_version = version

    def serialize_to_string(self) -> str:
        deps: list[Any] = ([f"python={self.python_version}"] if self.python_version else [])
        deps += self.conda_packages + ["pip"]
        if self.pip_packages:
            deps.append({"pip": self.pip_packages})
        return yaml.safe_dump({"channels": self.channels or ["conda-forge"], "dependencies": deps},
                              sort_keys=False)

    def render_requirements(self) -> list[str]:
        out = [r for r in (render_pip_requirement(c) for c in self.conda_packages) if r]
        return canonical_requirements(out + self.pip_packages)


class _PythonSection:
    def __init__(self) -> None:
        self.conda_dependencies: CondaDependencies | None = None
        self.user_managed_dependencies = False
        self.interpreter_path = "python"


class _DockerSection:
    def __init__(self) -> None:
        self.base_image: str | None = None
        self.enabled = False


class Environment:
    """A named environment (v1 ``Environment``)."""

    def __init__(self, name: str):
        self.name = name
        self.version: str | None = None
        self.python = _PythonSection()
        self.docker = _DockerSection()
        self.environment_variables: dict[str, str] = {}
        self._requirements: list[str] | None = None  # from a requirements file

    # -- constructors --------------------------------------------------------------------------
    @classmethod
    def from_conda_specification(cls, name: str, file_path: str | os.PathLike) -> Environment:
        env = cls(name)
        path = Path(file_path)
        if not path.is_file():
            raise EnvironmentError_(f"conda file {path} does not exist")
        env.python.conda_dependencies = CondaDependencies.from_yaml_text(path.read_text(), str(path))
        return env

    @classmethod
    def from_pip_requirements(cls, name: str, file_path: str | os.PathLike) -> Environment:
        env = cls(name)
        path = Path(file_path)
        if not path.is_file():
            raise EnvironmentError_(f"requirements file {path} does not exist")
        env._requirements = path.read_text().splitlines()
        return env

    @classmethod
    def from_docker_image(cls, name: str, image: str, container_registry: Any = None,
                          conda_specification: str | os.PathLike | None = None,
                          pip_requirements: str | os.PathLike | None = None) -> Environment:
        """An image plus packages (v1): the packages are installed; the image is recorded (nodes run
        without containers, and the build log says so)."""
        if conda_specification and pip_requirements:
            raise EnvironmentError_("give conda_specification or pip_requirements, not both")
        env = cls.from_conda_specification(name, conda_specification) if conda_specification else \
            cls.from_pip_requirements(name, pip_requirements) if pip_requirements else cls(name)
        env.docker.base_image = image
        return env

    @classmethod
    def current(cls) -> Environment:
        """The interpreter the node already has: no environment is built (quick iteration)."""
        env = cls("current-interpreter")
        env.python.user_managed_dependencies = True
        return env

    # -- canonical form -----------------------------------------------------------------------
    def compute_spec(self) -> dict[str, Any]:
        """The build spec nodes receive (pure); ``{"kind": "current"}`` for the node's interpreter."""
        if self.python.user_managed_dependencies:
            return {"kind": "current"}
        cd = self.python.conda_dependencies
        reqs = list(self._requirements or [])
        python = None
        if cd is not None:
            reqs += cd.render_requirements()
            python = cd.python_version
        kept, dropped = split_azureml(canonical_requirements(reqs))
        spec = {"kind": "venv", "python": python, "requirements": kept, "image": self.docker.base_image}
        return {**spec, "dropped": dropped} if dropped else spec

    def compute_hash(self) -> str:
        return compute_spec_hash(self.compute_spec())

    # -- registry -----------------------------------------------------------------------------
    def to_dict(self) -> dict:
        cd = self.python.conda_dependencies
        return {
            "name": self.name, "version": self.version,
            "requirements": self._requirements,
            "conda": None if cd is None else {"conda_packages": cd.conda_packages, "pip_packages":
                                              cd.pip_packages, "python_version": cd.python_version,
                                              "channels": cd.channels},
            "user_managed_dependencies": self.python.user_managed_dependencies,
            "base_image": self.docker.base_image,
            "environment_variables": self.environment_variables,
            "hash": self.compute_hash(),
        }

    @classmethod
    def from_dict(cls, data: dict) -> Environment:
        env = cls(data["name"])
        env.version = data.get("version")
        env._requirements = data.get("requirements")
        if data.get("conda"):
            env.python.conda_dependencies = CondaDependencies(**data["conda"])
        env.python.user_managed_dependencies = bool(data.get("user_managed_dependencies"))
        env.docker.base_image = data.get("base_image")
        env.environment_variables = dict(data.get("environment_variables") or {})
        return env

    def register(self, workspace: Workspace) -> Environment:
        """Store a new version, unless the latest version has the same content (then return it)."""
        registry = environment_registry(workspace.root)

        def fill(vdir: Path, version: int) -> None:
            self.version = str(version)
            write_json_atomic(vdir / RECORD, self.to_dict())

        with registry.locked(self.name):  # decide and allocate as one step
            if registry.versions(self.name):
                latest = registry.get(self.name)
                if latest.get("hash") == self.compute_hash() and \
                        latest.get("environment_variables") == self.environment_variables:
                    return Environment.from_dict(latest)
            registry.allocate(self.name, fill)
        return self

    @staticmethod
    def get(workspace: Workspace, name: str, version: str | int | None = None) -> Environment:
        """The latest version of ``name`` or the given one; ``name`` may be a reference (``env:2``, ``env@latest``).
        A name nobody registered may be a curated ``AzureML-…`` one (``trainyard.curated``)."""
        ref_name, ref_version = parse_ref(name, "environment", EnvironmentError_)
        registry = environment_registry(workspace.root)
        version = version if ref_version is None else ref_version
        if ref_name not in registry.names() and version in (None, "latest"):
            curated = _curated(ref_name)
            if curated is not None:
                return curated
            close = render_closest(ref_name, [*registry.names(), *CURATED_NAMES])
            raise EnvironmentError_(
                f"no environment named {ref_name!r} (registered or curated). "
                + (f"Closest names: {', '.join(close)}. " if close else "")
                + "Register one with env.register(ws), or see Environment.list(ws)")
        return Environment.from_dict(registry.get(ref_name, version))

    @staticmethod
    def list(workspace: Workspace, curated: bool = True) -> dict[str, Environment]:
        """Registered environments (latest versions; unreadable ones skipped with a warning), then the curated
        names not shadowed by one."""
        names = environment_registry(workspace.root).names()
        out = {e.name: e for e in skip_unreadable(names, lambda n: Environment.get(workspace, n))}
        if curated:
            out.update({n: _curated(n) for n in CURATED_NAMES if n not in out})
        return out

    def __repr__(self) -> str:
        return f"Environment(name={self.name!r}, version={self.version!r})"


def environment_registry(root: str | os.PathLike) -> VersionedRegistry:
    return VersionedRegistry(Path(root) / "environments", RECORD, "environment", "register it with env.register(ws)",
                             EnvironmentError_)


def _curated(name: str) -> Environment | None:
    """The built-in environment for a curated ``AzureML-…`` name, or None."""
    requirements = resolve_curated(name)
    if requirements is None:
        return None
    env = Environment(name)
    env.version = "curated"
    env._requirements = requirements
    return env


def compute_spec_hash(spec: dict) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()
