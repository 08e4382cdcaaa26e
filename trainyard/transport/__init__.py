"""How the control plane reaches a node. A node handle has three operations:

- ``call(verb, payload) -> dict``: run one step of the node helper (``trainers.node``);
- ``put_blob(oid, path)``: add a blob to the node's object cache;
- ``fetch(run_id, rel, dest)``: copy one file of a run back.

``LocalNode`` runs the helper in-process; SSH nodes run it over one reused connection.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .local import LocalNode

if TYPE_CHECKING:
    from ..workspace import Workspace

__all__ = ["LocalNode", "open_node"]


def open_node(workspace: Workspace, compute: str, node: str | None = None) -> LocalNode:
    """A handle on the node that runs (or will run) work for ``compute``."""
    config = workspace.compute_config(compute)
    if config["type"] == "local":
        return LocalNode(config.get("root", "~/.trainyard"))
    from ..errors import ComputeTargetException

    raise ComputeTargetException(
        f"compute {compute!r} is of type {config['type']!r}, which this version cannot run yet; "
        "use the local compute")
