"""Pure renderers: sshd_config, authorized_keys, and the workspace config the stack
exports (the same schema as ``.trainyard/config.json``)."""

from __future__ import annotations

from urllib.parse import urlparse

NODE_ROOT = "/data/nodes"
STORAGE_MOUNT = "/data"
AUTHORIZED_KEYS_DIR = "/etc/ssh/authorized_keys"


def render_sshd_config(user: str) -> str:
    return "\n".join([
        "# Trainyard node: key-only logins for one user, host key from the stack (pulumi-tls).",
        "Port 22",
        "HostKey /etc/ssh/ssh_host_ed25519_key",
        f"AuthorizedKeysFile {AUTHORIZED_KEYS_DIR}/%u",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "PermitRootLogin no",
        f"AllowUsers {user}",
        "UsePAM no",
        "X11Forwarding no",
        "AllowTcpForwarding no",
        "ClientAliveInterval 15",
        "Subsystem sftp internal-sftp",
        "",
    ])


def render_authorized_keys(public_keys: list[str]) -> str:
    lines = [k.strip() for k in public_keys if k and k.strip()]
    for line in lines:
        if "PRIVATE KEY" in line:
            raise ValueError("a private key was passed where a public key belongs")
    return "\n".join(lines) + "\n"


def address_of(docker_host: str, bind_address: str) -> tuple[str, str | None]:
    """(address the control plane dials, ProxyJump or None) for a node on ``docker_host`` (pure).

    A local Docker host publishes on ``bind_address``; a remote one is reached through the Docker host
    itself (ProxyJump) when the port is bound to loopback there.
    """
    url = urlparse(docker_host)
    if url.scheme in ("unix", "npipe"):
        return ("127.0.0.1" if bind_address == "0.0.0.0" else bind_address), None
    host = url.hostname or "127.0.0.1"
    if ipaddress_is_loopback(bind_address):
        jump = f"{url.username}@{host}" if url.username else host
        return "127.0.0.1", jump + (f":{url.port}" if url.port else "")
    return (host if bind_address == "0.0.0.0" else bind_address), None


def ipaddress_is_loopback(address: str) -> bool:
    import ipaddress

    return ipaddress.ip_address(address).is_loopback


def render_workspace(name: str, pools: dict[str, list[dict]], registry: str, storage: dict) -> dict:
    """The ``.trainyard/config.json`` the stack exports; nodes as plain dicts (pure)."""
    return {
        "name": name,
        "root": ".",
        "computes": {pool: {"type": "ssh", "nodes": nodes} for pool, nodes in pools.items() if nodes},
        "registry": registry,
        "storage": storage,
    }
