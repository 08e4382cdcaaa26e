"""How the control plane reaches a node. A node handle has three operations:

- ``call(verb, payload) -> dict``: run one step of the node helper (``trainers.node``);
- ``put_blob(oid, path)``: add a blob to the node's object cache;
- ``fetch(run_id, rel, dest)``: copy one file of a run back (resuming a partial one).

``LocalNode`` runs the helper in-process; ``SSHNode`` runs it over one reused connection per node
(handles are cached per process, so every step of every run on a node shares that connection).
"""

from __future__ import annotations

import atexit
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from ..errors import ComputeTargetException, TransportError
from .local import LocalNode

if TYPE_CHECKING:
    from ..workspace import Workspace

__all__ = ["LocalNode", "close_all", "node_configs", "open_node", "probe_nodes", "select_node"]

_OPEN: dict[tuple, Any] = {}


def node_configs(workspace: Workspace, compute: str) -> list:
    """The NodeConfig of every node of an SSH pool."""
    from .ssh import NodeConfig

    config = workspace.compute_config(compute)
    return [NodeConfig.from_dict(n, config) for n in config.get("nodes", [])]


def open_node(workspace: Workspace, compute: str, node: str | None = None):
    """A handle on a node of ``compute`` (the named one, else the pool's first)."""
    config = workspace.compute_config(compute)
    if config["type"] == "local":
        return LocalNode(config.get("root", "~/.trainyard"))
    if config["type"] != "ssh":
        raise ComputeTargetException(f"compute {compute!r} is of type {config['type']!r}, which this version "
                                     "cannot run; use `local` or an SSH pool")
    nodes = node_configs(workspace, compute)
    if not nodes:
        raise ComputeTargetException(f"compute {compute!r} has no nodes; add one with "
                                     f"`trainyard compute attach {compute} --host HOST`")
    chosen = next((n for n in nodes if n.name == node), None) if node else nodes[0]
    if chosen is None:
        raise ComputeTargetException(f"compute {compute!r} has no node {node!r}")
    key = (str(workspace.root), compute, chosen.name, chosen.host, chosen.port, chosen.host_key)
    if key not in _OPEN:
        from .ssh import SSHNode

        if not _OPEN:
            atexit.register(close_all)
        _OPEN[key] = SSHNode(chosen)
    return _OPEN[key]


def probe_nodes(workspace: Workspace, compute: str, configs: list) -> list[tuple[Any, Any, Any]]:
    """Ask every node of ``configs`` for ``info`` at once (one handshake's time for the pool, not one per
    node); returns (config, node, info or the TransportError) in order."""
    nodes = [open_node(workspace, compute, cfg.name) for cfg in configs]

    def probe(node):
        try:
            return node.call("info", {})
        except TransportError as exc:
            return exc

    with ThreadPoolExecutor(max_workers=max(1, min(8, len(nodes)))) as pool:
        return list(zip(configs, nodes, pool.map(probe, nodes), strict=True))


def select_node(workspace: Workspace, compute: str, gpus: int = 0) -> tuple[Any, list[str]]:
    """The least-loaded reachable node of a pool, by (running + queued) / slots; returns (node, warnings)."""
    config = workspace.compute_config(compute)
    if config["type"] == "local":
        return open_node(workspace, compute), []
    warnings, candidates = [], []
    for cfg in node_configs(workspace, compute):
        if gpus > cfg.gpus:
            warnings.append(f"{cfg.name}: has {cfg.gpus} GPUs, the job asks for {gpus}")
        else:
            candidates.append(cfg)
    answers = probe_nodes(workspace, compute, candidates)
    best, errors = None, []
    for cfg, node, info in answers:
        if isinstance(info, TransportError):
            warnings.append(f"{cfg.name} skipped: {info}")
            errors.append(info)
            continue
        load = (len(info["runs"]) + 1) / cfg.slot_count
        if best is None or load < best[0]:
            best = (load, node)
    if best is None:
        if errors and len(errors) == len(node_configs(workspace, compute)):
            raise errors[0]
        raise ComputeTargetException(f"no node of {compute!r} can take this job: " + "; ".join(warnings))
    return best[1], warnings


def close_all() -> None:
    for node in _OPEN.values():
        node.close()
    _OPEN.clear()
