"""Compute targets: ``local`` (this machine), SSH pools of nodes you own and Slurm clusters reached through a
login node (Azure ML v1 ``ComputeTarget``).

Provisioning is Pulumi's job (``infra/``); here we find and describe targets, and ``attach_node`` adds an
existing machine to a pool after pinning its host key.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .errors import ComputeTargetException, HostKeyError, TransportError
from .provisioning import SUCCEEDED, create_compute, delete_compute
from .transport import node_configs, open_node, probe_nodes
from .transport.holder import stop_holders

if TYPE_CHECKING:
    from .workspace import Workspace


class ComputeTarget:
    """A named compute of a workspace. Raises ComputeTargetException when absent, like v1."""

    def __init__(self, workspace: Workspace, name: str):
        self.workspace = workspace
        self.name = name
        self.config = workspace.compute_config(name)
        self.type = self.config["type"]

    def get_status(self) -> ComputeStatus:
        """The configuration (no connection): name, type, nodes with their pinned keys, GPUs and slots."""
        return ComputeStatus(name=self.name, type=self.type, provisioning_state=self.provisioning_state,
                             **{k: v for k, v in self.config.items() if k != "type"})

    # -- v1 provisioning (see trainyard.provisioning) ------------------------------------------------
    @property
    def nodes(self) -> list[dict]:
        return list(self.config.get("nodes", []))

    @property
    def provisioning_state(self) -> str:
        """``Succeeded`` for a compute in the config (created, attached or written by hand)."""
        return (self.config.get("provisioning") or {}).get("state", SUCCEEDED)

    @staticmethod
    def create(workspace: Workspace, name: str, provisioning_configuration: Any, automation: Any = None,
               on_output: Callable[[str], None] | None = None) -> ComputeTarget:
        """Provision a pool with the infra program (Pulumi Automation API) and add it to the workspace."""
        create_compute(workspace, name, provisioning_configuration, automation, on_output)
        return ComputeTarget(workspace, name)

    def delete(self, automation: Any = None, on_output: Callable[[str], None] | None = None) -> None:
        """Destroy the pool's stack and remove the compute from the workspace."""
        delete_compute(self.workspace, self.name, automation, on_output)

    def wait_for_completion(self, show_output: bool = False, min_node_count: int | None = None,
                            timeout_in_minutes: float = 20, is_delete_operation: bool = False) -> None:
        """Provisioning is finished when ``create`` returns; with ``min_node_count``, also wait until that many
        nodes answer (or raise ComputeTargetException after the timeout)."""
        deadline = time.monotonic() + timeout_in_minutes * 60
        while True:
            reachable = sum(bool(n.get("reachable")) for n in self.describe_nodes()) if min_node_count else 0
            if show_output:
                print(f"{self.name}: {self.provisioning_state}"
                      + (f", {reachable} of {min_node_count} nodes reachable" if min_node_count else ""))
            if not min_node_count or reachable >= min_node_count:
                return
            if time.monotonic() > deadline:
                raise ComputeTargetException(f"only {reachable} of {min_node_count} nodes of {self.name!r} answered "
                                             f"within {timeout_in_minutes} minutes; see `trainyard compute status "
                                             f"{self.name}`")
            time.sleep(5)

    def describe_nodes(self) -> list[dict]:
        """Live status of every node: reachable, Python, uv, GPUs, free slots, runs, free disk."""
        if self.type == "local":
            info = open_node(self.workspace, self.name).call("info", {})
            return [{"node": "local", "reachable": True, **info, "slots": self.config.get("slots", 0)}]
        if self.type == "slurm":
            return [self.describe_cluster()]
        out = []
        for cfg, _node, info in probe_nodes(self.workspace, self.name, node_configs(self.workspace, self.name)):
            row: dict[str, Any] = {"node": cfg.name, "host": cfg.host, "port": cfg.port, "slots": cfg.slot_count}
            if isinstance(info, TransportError):
                row.update(reachable=False, error=str(info))
            else:
                row.update(reachable=True, **info, free_slots=cfg.slot_count - info["busy_slots"])
            out.append(row)
        return out

    def disconnect(self) -> int:
        """End the connection holders of this compute's nodes; returns how many were running."""
        return stop_holders(node_configs(self.workspace, self.name)) if self.type in ("ssh", "slurm") else 0

    def describe_cluster(self) -> dict:
        """A Slurm compute's login node, partitions, nodes by state, queue length, the user's jobs."""
        login = open_node(self.workspace, self.name)
        config = node_configs(self.workspace, self.name)[0]
        row: dict[str, Any] = {"node": "login", "host": config.host, "port": config.port}
        try:
            row.update(reachable=True, **login.call("info", {}), **login.call("slurm_info", {}))
        except TransportError as exc:
            row.update(reachable=False, error=str(exc))
        return row

    def __repr__(self) -> str:
        return f"ComputeTarget(name={self.name!r}, type={self.type!r})"


class ComputeStatus(dict):
    """``compute_target.get_status()``: a dict that also answers v1's ``serialize()``."""

    def serialize(self) -> dict:
        return dict(self)


def disconnect_all() -> int:
    """End every connection holder of this user (any workspace); returns how many were running."""
    return stop_holders()


def attach_node(workspace: Workspace, pool: str, host: str, port: int = 22, user: str | None = None,
                identity_file: str | None = None, gpus: int = 0, slots: int | None = None,
                root: str = "~/.trainyard", accept_host_key: str | None = None,
                confirm: Callable[[str], bool] | None = None, name: str | None = None) -> dict:
    """Pin a machine's host key, check we can log in and run the helper, and add it to ``pool`` (through
    ``Workspace.save_node``).

    Without ``accept_host_key`` the offered fingerprint is shown to ``confirm``; with neither, refuse.
    """
    from .transport.ssh import NodeConfig, SSHNode  # start-up time (paramiko)

    host_key, fp = pin_host_key(host, port, accept_host_key, confirm)
    node = {"name": name or re.sub(r"[^A-Za-z0-9_.-]", "-", f"{host}-{port}"), "host": host, "port": port,
            "user": user, "identity_file": identity_file, "host_key": host_key, "gpus": gpus, "root": root}
    if slots:
        node["slots"] = slots
    node = {k: v for k, v in node.items() if v is not None}
    with SSHNode(NodeConfig.from_dict(node)) as probe:
        info = probe.call("info", {})
    workspace.save_node(pool, node)
    return {**node, "fingerprint": fp, "python": info.get("python"), "uv": info.get("uv")}


def pin_host_key(host: str, port: int, accept_host_key: str | None,
                 confirm: Callable[[str], bool] | None) -> tuple[str, str]:
    """The host key ``host`` offers, accepted by fingerprint or by ``confirm``; returns (key line, fingerprint)."""
    from .transport.ssh import fingerprint, offered_host_key  # start-up time (paramiko)

    offered = offered_host_key(host, port)
    fp = fingerprint(offered)
    if accept_host_key is not None:
        if accept_host_key.strip() != fp:
            raise HostKeyError(f"{host}:{port} offers {fp}, not the {accept_host_key} you accepted; nothing saved")
    elif confirm is None:
        raise HostKeyError(f"{host}:{port} offers host key {offered.get_name()} {fp}. Refusing to trust it "
                           f"without confirmation: check it (on the node: `ssh-keygen -lf "
                           f"/etc/ssh/ssh_host_ed25519_key.pub`) and re-run with --accept-host-key {fp}")
    elif not confirm(f"{host}:{port} offers host key {offered.get_name()} {fp}. Trust it?"):
        raise HostKeyError(f"host key {fp} of {host}:{port} not accepted; nothing saved")
    return f"{offered.get_name()} {offered.get_base64()}", fp


def attach_slurm(workspace: Workspace, name: str, host: str, root: str, port: int = 22, user: str | None = None,
                 identity_file: str | None = None, accept_host_key: str | None = None,
                 confirm: Callable[[str], bool] | None = None, partition: str | None = None,
                 account: str | None = None, qos: str | None = None, sbatch_args: list[str] = (),
                 env: dict | None = None) -> dict:
    """Pin the login node's host key, check that it runs the helper and Slurm's commands, and save the
    ``slurm`` compute ``name`` (``root``: a directory on the file system the compute nodes share)."""
    from .transport.ssh import NodeConfig, SSHNode  # start-up time (paramiko)

    host_key, fp = pin_host_key(host, port, accept_host_key, confirm)
    login = {k: v for k, v in {"name": "login", "host": host, "port": port, "user": user,
                               "identity_file": identity_file, "host_key": host_key}.items() if v is not None}
    compute = {"type": "slurm", "root": root, "nodes": [login], "partition": partition, "account": account,
               "qos": qos, "sbatch_args": list(sbatch_args), "env": dict(env or {})}
    compute = {k: v for k, v in compute.items() if v not in (None, [], {})}
    with SSHNode(NodeConfig.from_dict(login, compute)) as probe:
        info = probe.call("info", {})
        slurm = probe.call("slurm_info", {})
    partitions = [p["name"] for p in slurm["partitions"]]
    if partition and partition not in partitions:
        raise ComputeTargetException(f"the cluster at {host} has no partition {partition!r} (it has "
                                     f"{', '.join(partitions) or 'none'}); nothing saved")
    workspace.save_compute(name, compute)
    return {**compute, "fingerprint": fp, "python": info.get("python"), "partitions": partitions}
