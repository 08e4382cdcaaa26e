"""Provisioning from a notebook (Azure ML v1 ``AmlCompute.provisioning_configuration`` +
``ComputeTarget.create``): the project's own Pulumi program, driven by the Automation API.

``create`` runs one stack per workspace and compute (``<workspace>-<compute>``): ``vm_size`` picks the size
from the infra size table, ``max_nodes`` the pool size. The stack's outputs are written into the workspace
config as ``trainyard workspace import-stack`` writes them, under the compute's name. ``delete`` destroys the
stack and removes the compute. The Automation API is reached only through ``trainyard_infra.automation``
(an ``automation`` object with ``up_stack``/``destroy_stack`` can be passed instead, which the tests do);
whatever it raises becomes a ``ComputeTargetException``.
"""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ComputeTargetException
from .stackconfig import render_stack_config

if TYPE_CHECKING:
    from .workspace import Workspace

INFRA_DIR = Path(__file__).resolve().parent.parent / "infra"  # the repository's Pulumi program
SUCCEEDED = "Succeeded"  # v1's provisioning_state of a usable compute (not a run status)
ATTACH_HINT = ("Or add machines you already run with `trainyard compute attach NAME --host H ...`.")


@dataclass
class AmlComputeProvisioningConfiguration:
    vm_size: str = "STANDARD_D2_V2"
    min_nodes: int = 0
    max_nodes: int = 4
    idle_seconds_before_scaledown: int = 1800
    vm_priority: str = "dedicated"

    def serialize(self) -> dict:
        return asdict(self)


class AmlCompute:
    """v1's managed-cluster type; here a pool of Docker nodes made by the infra program."""

    _compute_type = "AmlCompute"

    @staticmethod
    def provisioning_configuration(vm_size: str = "STANDARD_D2_V2", min_nodes: int = 0,
                                   max_nodes: int | None = None, idle_seconds_before_scaledown: int = 1800,
                                   vm_priority: str = "dedicated", **_unused: Any) -> AmlComputeProvisioningConfiguration:
        if max_nodes is None or int(max_nodes) < 1:
            raise ComputeTargetException("provisioning_configuration needs max_nodes of at least 1 (the pool size)")
        if not 0 <= int(min_nodes) <= int(max_nodes):
            raise ComputeTargetException(f"min_nodes {min_nodes} must be between 0 and max_nodes {max_nodes}")
        return AmlComputeProvisioningConfiguration(vm_size, int(min_nodes), int(max_nodes),
                                                   int(idle_seconds_before_scaledown), vm_priority)

    @staticmethod
    def supported_vmsizes(workspace: Workspace | None = None, location: str | None = None) -> list[dict]:
        sizes = _infra("sizes").SIZES
        return [{"name": n, "vCPUs": s.cpus, "memoryGB": s.memory_mb / 1024, "gpus": s.gpus}
                for n, s in sorted(sizes.items())]


def render_stack_name(workspace: Workspace, name: str) -> str:
    """One stack per workspace and compute (pure)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "-", f"{workspace.name}-{name}")


def render_settings(config: AmlComputeProvisioningConfiguration) -> tuple[str, dict]:
    """The pool key (cpu/gpu) and stack settings for a provisioning configuration (pure over the table)."""
    try:
        size = _infra("sizes").resolve_size(config.vm_size)
    except ValueError as exc:
        raise ComputeTargetException(f"vm_size: {exc}") from None
    if size.gpus:
        return "gpu", {"cpuPoolSize": 0, "gpuPoolSize": config.max_nodes, "gpuNodeSize": config.vm_size,
                       "gpusPerNode": size.gpus}
    return "cpu", {"cpuPoolSize": config.max_nodes, "gpuPoolSize": 0, "cpuNodeSize": config.vm_size}


def create_compute(workspace: Workspace, name: str, config: AmlComputeProvisioningConfiguration,
                   automation: Any = None, on_output: Callable[[str], None] | None = None) -> None:
    """``pulumi up`` the compute's stack and write its nodes into the workspace config as ``name``."""
    if name in workspace.compute_names():
        raise ComputeTargetException(f"compute {name!r} already exists in workspace {workspace.name!r}; "
                                     "use ComputeTarget(workspace=ws, name=...) to get it")
    pool_key, settings = render_settings(config)
    stack = render_stack_name(workspace, name)
    outputs = _drive(automation, "up_stack", stack, settings, on_output)
    key_dir = (workspace.config_path.parent if workspace.config_path else workspace.root) / "keys"
    pool = render_stack_config(outputs, key_dir).get("computes", {}).get(f"{pool_key}-pool")
    if not pool or not pool.get("nodes"):
        raise ComputeTargetException(f"stack {stack} produced no {pool_key}-pool nodes; see `pulumi stack -s {stack}`")
    workspace.save_compute(name, {**pool, "provisioning": {"stack": stack, **config.serialize(), "state": SUCCEEDED}})


def delete_compute(workspace: Workspace, name: str, automation: Any = None,
                   on_output: Callable[[str], None] | None = None) -> None:
    """``pulumi destroy`` the compute's stack, then remove it from the workspace config."""
    provisioning = workspace.compute_config(name).get("provisioning")
    if not provisioning:
        raise ComputeTargetException(f"compute {name!r} was not created by ComputeTarget.create (it is attached "
                                     "or configured by hand); remove it from the workspace config instead")
    _drive(automation, "destroy_stack", provisioning["stack"], None, on_output)
    workspace.save_compute(name, None)


def _drive(automation: Any, verb: str, stack: str, settings: dict | None, on_output: Any) -> Any:
    """Call the Automation API boundary; every failure becomes a ComputeTargetException."""
    automation = automation or _infra("automation")
    args = (stack, settings) if settings is not None else (stack,)
    try:
        return getattr(automation, verb)(*args, on_output=on_output)
    except FileNotFoundError as exc:
        raise ComputeTargetException(
            f"cannot provision {stack!r}: the Pulumi CLI is not installed ({exc.filename or 'pulumi'} not found "
            "on PATH); the Automation API runs it. Install it (https://www.pulumi.com/docs/install/), or run "
            f"`pulumi up` elsewhere and `trainyard workspace import-stack --file outputs.json`. {ATTACH_HINT}"
        ) from exc
    except ComputeTargetException:
        raise
    except Exception as exc:  # the Automation API's CommandError, ConcurrentUpdateError, ...
        raise ComputeTargetException(f"`pulumi {verb.split('_')[0]}` of stack {stack!r} failed: "
                                     f"{str(exc).strip()[-1500:]}") from exc


def _infra(module: str) -> Any:  # the infra program is imported when provisioning runs (start-up time)
    """A module of the infra program (``trainyard_infra``), which lives in the repository's ``infra/``."""
    if str(INFRA_DIR) not in sys.path and INFRA_DIR.is_dir():
        sys.path.append(str(INFRA_DIR))
    try:
        return importlib.import_module(f"trainyard_infra.{module}")
    except ImportError as exc:
        raise ComputeTargetException(
            f"provisioning needs the infra program and its packages ({exc}); install with "
            f"`pip install -e '.[infra]'` from the repository. {ATTACH_HINT}") from exc


__all__ = ["AmlCompute", "AmlComputeProvisioningConfiguration", "create_compute", "delete_compute"]
