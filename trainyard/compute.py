"""Compute targets: ``local`` (this machine) and, later, SSH pools and Slurm. Provisioning is Pulumi's
job; here we find and describe targets (Azure ML v1 ``ComputeTarget`` names)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .workspace import Workspace


class ComputeTarget:
    """A named compute of a workspace. Raises ComputeTargetException when absent, like v1."""

    def __init__(self, workspace: Workspace, name: str):
        self.workspace = workspace
        self.name = name
        self.config = workspace.compute_config(name)
        self.type = self.config["type"]

    def get_status(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, **{k: v for k, v in self.config.items() if k != "type"}}

    def __repr__(self) -> str:
        return f"ComputeTarget(name={self.name!r}, type={self.type!r})"
