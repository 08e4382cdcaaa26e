"""How an SSH node is configured: the workspace config's node entry, completed by ``~/.ssh/config``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

PASSPHRASE_PROMPT: Callable[[str], str] | None = None  # (key path) -> passphrase; the CLI sets it on a terminal


@dataclass
class NodeConfig:
    """One node of an SSH pool, as the workspace config describes it."""

    name: str
    host: str
    port: int = 22
    user: str | None = None
    identity_file: str | None = None
    host_key: str | None = None  # "ssh-ed25519 AAAA…" pinned public key
    gpus: int = 0
    slots: int | None = None
    root: str = "~/.trainyard"
    python: str = "python3"
    connect_timeout: float = 10.0
    command_timeout: float = 120.0
    keepalive: int = 15
    proxy_jump: str | None = None
    env: dict = field(default_factory=dict)  # for node commands: proxies, UV_INDEX_URL, SSL_CERT_FILE …

    @property
    def slot_count(self) -> int:
        return self.slots if self.slots else max(1, self.gpus)

    @classmethod
    def from_dict(cls, data: dict, pool: dict | None = None) -> NodeConfig:
        pool = pool or {}
        known = set(cls.__dataclass_fields__)
        merged = {k: pool[k] for k in ("connect_timeout", "command_timeout", "keepalive", "root", "python",
                                       "user", "identity_file") if k in pool}
        merged.update({k: v for k, v in data.items() if k in known})
        merged["env"] = {**(pool.get("env") or {}), **(data.get("env") or {})}
        merged.setdefault("name", data.get("host", "node"))
        return cls(**merged)


def resolve_ssh_config(node: NodeConfig) -> NodeConfig:
    """Apply ``~/.ssh/config`` (HostName, User, Port, IdentityFile, ProxyJump) where the workspace is silent."""
    path = Path.home() / ".ssh" / "config"
    if not path.is_file():
        return node
    import paramiko  # start-up time: reading a pool's config must not load paramiko

    entry = paramiko.SSHConfig.from_path(str(path)).lookup(node.host)
    out = NodeConfig(**{**node.__dict__})
    out.host = entry.get("hostname", node.host)
    if node.port == 22 and "port" in entry:
        out.port = int(entry["port"])
    out.user = node.user or entry.get("user")
    if not node.identity_file and entry.get("identityfile"):
        out.identity_file = entry["identityfile"][0]
    out.proxy_jump = node.proxy_jump or entry.get("proxyjump")
    return out
