"""Stack settings: one typed object, parsed and validated before any resource is created.

Defaults live here *and* in Pulumi.yaml's ``config:`` block (the Python SDK never reads Pulumi.yaml, so
under mocks only these apply); a test checks the two agree.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass, field, fields
from typing import Any

from .pools import LEGACY_KEYS, PoolSpec, parse_pools


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
    gpusPerNode: int = 1
    sshPortStart: int = 2222
    sshPortEnd: int = 2299
    bindAddress: str = "127.0.0.1"
    registryPort: int = 5000
    registryAddress: str = ""
    registryImage: str = "registry:2"
    nodeImage: str = "trainyard-node"
    nodeImageTag: str = "1"
    cpuBaseImage: str = "debian:bookworm-slim"
    gpuBaseImage: str = "nvidia/cuda:12.4.1-runtime-ubuntu22.04"
    storageVolume: str = "trainyard-storage"
    sshUser: str = "trainyard"
    clientPublicKey: str = ""
    pools: list = field(default_factory=list)  # undeclared in Pulumi.yaml: see pools.py

    # -- derived ------------------------------------------------------------------------------------
    def pool_specs(self) -> list[PoolSpec]:
        try:
            return parse_pools(self)
        except ValueError as exc:
            raise InfraConfigError(str(exc)) from None

    @property
    def node_count(self) -> int:
        return sum(p.count for p in self.pool_specs())

    @property
    def registry_bind(self) -> str:
        """The address the registry listens on, and the one every Docker host pulls node images from."""
        return self.registryAddress or self.bindAddress

    def validate(self) -> Settings:
        for key in ("cpuPoolSize", "gpuPoolSize", "gpusPerNode"):
            if getattr(self, key) < 0:
                raise InfraConfigError(f"trainyard:{key} is {getattr(self, key)}; it must be 0 or more")
        if self.gpuPoolSize and self.gpusPerNode < 1:
            raise InfraConfigError("trainyard:gpusPerNode must be at least 1 when gpuPoolSize > 0")
        pools = self.pool_specs()
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
        for key in ("bindAddress", "registryAddress"):
            try:
                ipaddress.ip_address(getattr(self, key) or "127.0.0.1")
            except ValueError:
                raise InfraConfigError(f"trainyard:{key} {getattr(self, key)!r} is not an IP address") from None
        hosts = [h for p in pools if p.count for h in p.hosts]
        for host in [self.dockerHost, *hosts]:
            if not host.startswith(("unix://", "ssh://", "tcp://", "npipe://")):
                raise InfraConfigError(f"Docker host {host!r} must start with unix://, ssh:// or tcp://")
        if len(set(hosts)) > 1 and ipaddress.ip_address(self.registry_bind).is_loopback:
            raise InfraConfigError(
                f"nodes run on {len(set(hosts))} Docker hosts but the registry binds {self.registry_bind} on the "
                "first one, so the others cannot pull the node image: set trainyard:registryAddress to an address "
                "of the first host they all reach, and list ADDRESS:PORT under \"insecure-registries\" in "
                "/etc/docker/daemon.json on every host (or put TLS in front of the registry)")
        if self.clientPublicKey and not self.clientPublicKey.startswith(("ssh-", "ecdsa-")):
            raise InfraConfigError("trainyard:clientPublicKey must be an OpenSSH public key line")
        return self


def parse_settings(values: dict[str, Any]) -> Settings:
    """Settings from raw config values (strings as the CLI stores them, or typed); validated (pure)."""
    known = {f.name: f for f in fields(Settings)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise InfraConfigError(f"unknown config key trainyard:{unknown[0]}; known keys: {', '.join(known)}")
    if "pools" in values and LEGACY_KEYS & set(values):
        raise InfraConfigError(f"trainyard:pools replaces trainyard:{sorted(LEGACY_KEYS & set(values))[0]}; "
                               "describe every pool in trainyard:pools")
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
