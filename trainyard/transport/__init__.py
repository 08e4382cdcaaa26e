"""How the control plane reaches a node: the ``Node`` interface (``transport.node``) and the handles.

``LocalNode`` runs the helper in-process; ``SSHNode`` runs it over one reused connection per node
(handles are cached per process, so every step of every run on a node shares that connection);
``SlurmNode`` (``transport.slurm``) is a Slurm cluster's login node, whose launches and polls go through
the scheduler; ``FakeNode`` (``transport.fake``) is the in-memory one for tests. ``open_node`` picks the
node of a compute, ``select_node`` the least-loaded reachable node of a pool.
"""

from __future__ import annotations

import atexit
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from ..errors import ComputeTargetException, TransportError
from .holder import HeldNode, holders_enabled, start_holder
from .local import LocalNode
from .node import CommandResult, Node, check_answer
from .slurm import SlurmNode
from .sshconfig import NodeConfig

if TYPE_CHECKING:
    from ..workspace import Workspace

__all__ = ["CommandResult", "LocalNode", "Node", "NodeConfig", "check_answer", "choose_node", "close_all",
           "node_configs", "open_node", "probe", "probe_nodes", "release_node", "select_node"]

_OPEN: dict[tuple, Node] = {}
_OPENING: dict[tuple, threading.Lock] = {}  # one opener per node: threads share the handle
_OPENING_LOCK = threading.Lock()
_PLACING: Counter[tuple[str, str, str]] = Counter()  # launches this process chose a node for, not yet there
_PLACING_LOCK = threading.Lock()


def node_configs(workspace: Workspace, compute: str) -> list[NodeConfig]:
    """The NodeConfig of every node of an SSH pool (of a Slurm compute: its login node)."""
    config = workspace.compute_config(compute)
    return [NodeConfig.from_dict(n, config) for n in config.get("nodes", [])]


def open_node(workspace: Workspace, compute: str, node: str | None = None) -> Node:
    """A handle on a node of ``compute`` (the named one, else the pool's first)."""
    config = workspace.compute_config(compute)
    if config["type"] == "local":
        return LocalNode(config.get("root", "~/.trainyard"))
    nodes = node_configs(workspace, compute)
    if not nodes:
        raise ComputeTargetException(f"compute {compute!r} has no nodes; add one with "
                                     f"`trainyard compute attach {compute} --host HOST`")
    chosen = next((n for n in nodes if n.name == node), None) if node else nodes[0]
    if chosen is None:
        raise ComputeTargetException(f"compute {compute!r} has no node {node!r}")
    key = (str(workspace.root), compute, chosen.name, chosen.host, chosen.port, chosen.host_key)
    with _OPENING_LOCK:
        opening = _OPENING.setdefault(key, threading.Lock())
    with opening:  # threads refreshing runs at once (`runs list`) open one handle per node, not one each
        if key not in _OPEN:
            if not _OPEN:
                atexit.register(close_all)
            handle = _open_ssh(chosen)
            if config["type"] == "slurm":  # the login node, with jobs going through the scheduler
                handle = SlurmNode(handle, config)
            _OPEN[key] = handle
    return _OPEN[key]


def _open_ssh(config: NodeConfig) -> Node:
    """Through the node's connection holder when this process uses holders and one runs; else directly
    (starting a holder for the processes that follow)."""
    if holders_enabled():
        held = HeldNode.open(config)
        if held is not None:
            return held
        start_holder(config)
    from .ssh import SSHNode  # start-up time: paramiko loads only when a pool is reached directly

    return SSHNode(config)


def probe_nodes(workspace: Workspace, compute: str, configs: list[NodeConfig]) -> list[tuple[NodeConfig, Node, Any]]:
    """Ask every node of ``configs`` for ``info`` at once (one handshake's time for the pool, not one per
    node); returns (config, node, info or the TransportError) in order."""
    nodes = [open_node(workspace, compute, cfg.name) for cfg in configs]
    return list(zip(configs, nodes, probe(nodes), strict=True))


def probe(nodes: list[Node]) -> list[dict | TransportError]:
    """``info`` from every node, asked in parallel: the answer, or the TransportError in its place."""
    def ask(node: Node) -> dict | TransportError:
        try:
            return node.call("info", {})
        except TransportError as exc:
            return exc

    with ThreadPoolExecutor(max_workers=max(1, min(8, len(nodes)))) as pool:
        return list(pool.map(ask, nodes))


def select_node(workspace: Workspace, compute: str, gpus: int = 0, reserve: bool = False) -> tuple[Node, list[str]]:
    """The least-loaded reachable node of a pool that has the GPUs; returns (node, warnings).

    With ``reserve`` the choice counts as one more run on that node, for this process's later choices,
    until ``release_node``: by then the launch shows in the node's own answer. Threads that submit at once
    (a sweep's children) so spread over the pool, instead of all seeing it idle and taking the first node."""
    config = workspace.compute_config(compute)
    if config["type"] in ("local", "slurm"):  # one node, or the scheduler places the job
        return open_node(workspace, compute), []
    configs = node_configs(workspace, compute)
    fit = [cfg for cfg in configs if gpus <= cfg.gpus]
    nodes = [open_node(workspace, compute, cfg.name) for cfg in fit]
    with _PLACING_LOCK:  # probe and count under one lock: a launch released since is in the probe's answer
        answers = [info if isinstance(info, TransportError) else
                   {**info, "runs": [*info["runs"], *[None] * _PLACING[_placing_key(workspace, compute, cfg.name)]]}
                   for cfg, info in zip(fit, probe(nodes), strict=True)]
        node, warnings = choose_node(compute, configs, nodes, answers, gpus)
        if reserve:
            _PLACING[_placing_key(workspace, compute, node.name)] += 1
    return node, warnings


def release_node(workspace: Workspace, compute: str, node: Node) -> None:
    """The launch ``select_node(reserve=True)`` chose ``node`` for has reached it, or will not."""
    key = _placing_key(workspace, compute, node.name)
    with _PLACING_LOCK:
        if _PLACING[key] > 0:
            _PLACING[key] -= 1
            if not _PLACING[key]:
                del _PLACING[key]


def _placing_key(workspace: Workspace, compute: str, node_name: str) -> tuple[str, str, str]:
    return str(workspace.root), compute, node_name


def choose_node(compute: str, configs: list[NodeConfig], nodes: list[Node], answers: list[dict | TransportError],
                gpus: int = 0) -> tuple[Node, list[str]]:
    """Pick among probed ``nodes`` (those of ``configs`` with the GPUs, in order) by (runs + 1) / slots,
    the lowest first; returns (node, warnings). When every node of the pool failed to answer, that error
    is raised; when none can take the job, ComputeTargetException says why (pure)."""
    warnings = [f"{cfg.name}: has {cfg.gpus} GPUs, the job asks for {gpus}" for cfg in configs if gpus > cfg.gpus]
    fit = [cfg for cfg in configs if gpus <= cfg.gpus]
    best, errors = None, []
    for cfg, node, info in zip(fit, nodes, answers, strict=True):
        if isinstance(info, TransportError):
            warnings.append(f"{cfg.name} skipped: {info}")
            errors.append(info)
            continue
        load = (len(info["runs"]) + 1) / cfg.slot_count
        if best is None or load < best[0]:
            best = (load, node)
    if best is None:
        if errors and len(errors) == len(configs):
            raise errors[0]
        raise ComputeTargetException(f"no node of {compute!r} can take this job: " + "; ".join(warnings))
    return best[1], warnings


def close_all() -> None:
    for node in _OPEN.values():
        node.close()
    _OPEN.clear()
