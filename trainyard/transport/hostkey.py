"""Pinned host keys: the ``host_key`` in the workspace config, else ``~/.ssh/known_hosts``.

The key a server offers is checked right after the key exchange, before authenticating or sending
anything; an unknown or changed key is refused with what to do about it.
"""

from __future__ import annotations

import base64
from pathlib import Path

import paramiko

from ..errors import HostKeyError
from .sshconfig import NodeConfig


def fingerprint(key: paramiko.PKey) -> str:
    return key.fingerprint  # "SHA256:…", as OpenSSH prints it


def parse_public_key(text: str) -> paramiko.PKey:
    """A pinned "type base64" public key (pure)."""
    parts = text.split()
    if len(parts) < 2:
        raise HostKeyError(f"pinned host key {text!r} is not 'TYPE BASE64'")
    return paramiko.PKey.from_type_string(parts[0], base64.b64decode(parts[1]))


def load_pinned_keys(node: NodeConfig) -> list[paramiko.PKey]:
    """The keys ``node`` may offer: its pinned ``host_key``, else its ``~/.ssh/known_hosts`` entries."""
    if node.host_key:
        return [parse_public_key(node.host_key)]
    known = paramiko.HostKeys()
    path = Path.home() / ".ssh" / "known_hosts"
    if path.is_file():
        known.load(str(path))
    name = node.host if node.port == 22 else f"[{node.host}]:{node.port}"
    return list((known.lookup(name) or {}).values())


def check_host_key(node: NodeConfig, offered: paramiko.PKey) -> None:
    """Raise HostKeyError unless ``offered`` is one of the node's pinned keys."""
    pinned = load_pinned_keys(node)
    where = f"{node.host}:{node.port}"
    if not pinned:
        raise HostKeyError(
            f"{where} offered host key {offered.get_name()} {fingerprint(offered)}, which is not pinned "
            f"in the workspace config or ~/.ssh/known_hosts; if you trust it, run `trainyard compute "
            f"attach POOL --host {node.host} --port {node.port} --accept-host-key {fingerprint(offered)}`")
    if not any(k.get_name() == offered.get_name() and k.asbytes() == offered.asbytes() for k in pinned):
        expected = ", ".join(fingerprint(k) for k in pinned)
        raise HostKeyError(
            f"host key of {where} CHANGED: expected {expected}, offered {offered.get_name()} "
            f"{fingerprint(offered)}. Nothing was sent. If the node was rebuilt, re-pin it with "
            f"`trainyard compute attach ... --accept-host-key {fingerprint(offered)}`; otherwise "
            "treat this as an attack")
