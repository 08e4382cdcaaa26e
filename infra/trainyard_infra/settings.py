"""Stack settings: one typed object, parsed and validated before any resource is created.

Defaults live here *and* in Pulumi.yaml's ``config:`` block (the Python SDK never reads Pulumi.yaml, so
under mocks only these apply); a test checks the two agree.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass, field, fields
from typing import Any

from .sizes import NodeSize, resolve_size


class InfraConfigError(ValueError):
    """A stack setting is invalid; the message names the key and what to do."""


@dataclass
class Settings:
    dockerHost: str = "unix:///var/run/docker.sock"
    cpuPoolSize: int = 2
    gpuPoolSize: int = 0
    cpuPoolHosts: list[str] = field(default_factory=list)
    gpuPoolHosts: list[str] = field(default_factory=list)
    cpuNodeSize: str = "STANDARD_D2_V2"
    gpuNodeSize: str = "Standard_NC4as_T4_v3"
    cpuNodeLimits: dict = field(default_factory=dict)
    gpuNodeLimits: dict = field(default_factory=dict)
    gpusPerNode: int = 1
    sshPortStart: int = 2222
    sshPortEnd: int = 2299
    bindAddress: str = "127.0.0.1"
    registryPort: int = 5000
    registryImage: str = "registry:2"
    nodeImage: str = "trainyard-node"
    nodeImageTag: str = "1"
    cpuBaseImage: str = "debian:bookworm-slim"
    gpuBaseImage: str = "nvidia/cuda:12.4.1-runtime-ubuntu22.04"
    storageVolume: str = "trainyard-storage"
    sshUser: str = "trainyard"
    clientPublicKey: str = ""

    # -- derived ------------------------------------------------------------------------------------
    def pool_hosts(self, pool: str) -> list[str]:
        hosts = self.cpuPoolHosts if pool == "cpu" else self.gpuPoolHosts
        return list(hosts) or [self.dockerHost]

    def node_limits(self, pool: str) -> NodeSize:
        limits = self.cpuNodeLimits if pool == "cpu" else self.gpuNodeLimits
        if limits:
            return NodeSize(float(limits.get("cpus", 1)), int(limits.get("memoryMb", 1024)),
                            int(limits.get("gpus", 0 if pool == "cpu" else self.gpusPerNode)))
        size = resolve_size(self.cpuNodeSize if pool == "cpu" else self.gpuNodeSize)
        return size if pool == "cpu" else NodeSize(size.cpus, size.memory_mb, self.gpusPerNode or size.gpus)

    @property
    def node_count(self) -> int:
        return self.cpuPoolSize + self.gpuPoolSize

    def validate(self) -> Settings:
        for key in ("cpuPoolSize", "gpuPoolSize", "gpusPerNode"):
            if getattr(self, key) < 0:
                raise InfraConfigError(f"trainyard:{key} is {getattr(self, key)}; it must be 0 or more")
        if self.gpuPoolSize and self.gpusPerNode < 1:
            raise InfraConfigError("trainyard:gpusPerNode must be at least 1 when gpuPoolSize > 0")
        for pool in ("cpu", "gpu"):
            try:
                limits = self.node_limits(pool)
            except ValueError as exc:
                raise InfraConfigError(f"trainyard:{pool}NodeSize: {exc}") from None
            if limits.cpus <= 0 or limits.memory_mb <= 0:
                raise InfraConfigError(f"trainyard:{pool}NodeLimits must have positive cpus and memoryMb")
        for key in ("sshPortStart", "sshPortEnd", "registryPort"):
            if not 1 <= getattr(self, key) <= 65535:
                raise InfraConfigError(f"trainyard:{key} must be a TCP port (1-65535)")
        available = self.sshPortEnd - self.sshPortStart + 1
        if available < self.node_count:
            raise InfraConfigError(
                f"SSH port range {self.sshPortStart}-{self.sshPortEnd} has {available} ports but the stack "
                f"needs {self.node_count} (one per node); widen trainyard:sshPortEnd")
        if self.sshPortStart <= self.registryPort <= self.sshPortEnd:
            raise InfraConfigError("trainyard:registryPort falls inside the SSH port range; move one of them")
        try:
            ipaddress.ip_address(self.bindAddress)
        except ValueError:
            raise InfraConfigError(f"trainyard:bindAddress {self.bindAddress!r} is not an IP address") from None
        for host in [self.dockerHost, *self.cpuPoolHosts, *self.gpuPoolHosts]:
            if not host.startswith(("unix://", "ssh://", "tcp://", "npipe://")):
                raise InfraConfigError(f"Docker host {host!r} must start with unix://, ssh:// or tcp://")
        if self.clientPublicKey and not self.clientPublicKey.startswith(("ssh-", "ecdsa-")):
            raise InfraConfigError("trainyard:clientPublicKey must be an OpenSSH public key line")
        return self


def parse_settings(values: dict[str, Any]) -> Settings:
    """Settings from raw config values (strings as the CLI stores them, or typed); validated (pure)."""
    known = {f.name: f for f in fields(Settings)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise InfraConfigError(f"unknown config key trainyard:{unknown[0]}; known keys: {', '.join(known)}")
    typed: dict[str, Any] = {}
    defaults = Settings()
    for key, raw in values.items():
        default = getattr(defaults, key)
        try:
            if isinstance(default, bool) or not isinstance(raw, str) or isinstance(default, str):
                value = raw
            elif isinstance(default, int):
                value = int(raw)
            else:
                value = json.loads(raw)
        except (ValueError, json.JSONDecodeError):
            raise InfraConfigError(f"trainyard:{key} must be a {type(default).__name__}, got {raw!r}") from None
        if type(value) is not type(default) and not (isinstance(default, int) and isinstance(value, int)):
            raise InfraConfigError(f"trainyard:{key} must be a {type(default).__name__}, got {raw!r}")
        typed[key] = value
    return Settings(**typed).validate()


def load_settings() -> Settings:
    """Read the stack's config through Pulumi (namespace ``trainyard``)."""
    import pulumi

    config = pulumi.Config("trainyard")
    values = {f.name: config.get(f.name) for f in fields(Settings)}
    return parse_settings({k: v for k, v in values.items() if v is not None})
