"""Pure renderers: sshd_config, authorized_keys, the node Dockerfile, and the workspace config the stack
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


def render_dockerfile() -> str:
    """One Dockerfile for both pools: BASE_IMAGE is Debian for CPU nodes, a CUDA image for GPU nodes."""
    return """\
# Trainyard node image (rendered by infra/trainyard_infra/render.py; a test keeps this file in step).
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}
ARG SSH_USER=trainyard
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update \\
 && apt-get install -y --no-install-recommends openssh-server python3 python3-venv ca-certificates \\
 && rm -rf /var/lib/apt/lists/* \\
 && python3 -m venv /opt/uv && /opt/uv/bin/pip install --no-cache-dir uv && ln -s /opt/uv/bin/uv /usr/local/bin/uv \\
 && useradd --create-home --shell /bin/bash "${SSH_USER}" \\
 && mkdir -p /run/sshd /etc/ssh/authorized_keys /data \\
 && chown "${SSH_USER}" /data \\
 && rm -f /etc/ssh/ssh_host_*
EXPOSE 22
CMD ["/usr/sbin/sshd", "-D", "-e"]
"""


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
