"""Local port forwards to a port on an SSH node, kept by this process (like ``ssh -L``).

``forward(node, remote_port)`` listens on 127.0.0.1 (a free port unless one is given) and carries each
connection over the node's one SSH connection to ``127.0.0.1:remote_port`` on the node. Forwards live as
long as the process; one is made per (node, remote port) and reused.
"""

from __future__ import annotations

import select
import socket
import threading

_FORWARDS: dict[tuple, Forward] = {}
_LOCK = threading.Lock()


def _tunnel_node(node):
    """A node that can open tunnels: an SSHNode itself, else (a holder's node) a direct connection."""
    if hasattr(node, "open_tunnel"):
        return node
    from .ssh import SSHNode  # start-up time: paramiko loads only when a forward is made

    return SSHNode(node.config)


class Forward:
    def __init__(self, node, remote_port: int, remote_host: str = "127.0.0.1", local_port: int = 0):
        self.node = _tunnel_node(node)
        self.remote = (remote_host, remote_port)
        self.listener = socket.create_server(("127.0.0.1", local_port))
        self.port = self.listener.getsockname()[1]
        self.closed = False
        threading.Thread(target=self._accept, daemon=True, name=f"forward-{self.port}").start()

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._pipe, args=(client,), daemon=True).start()

    def _pipe(self, client: socket.socket) -> None:
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            chan = self.node.open_tunnel(*self.remote)
        except Exception:  # noqa: BLE001 - the client sees its connection closed
            client.close()
            return
        try:
            while True:
                readable, _, _ = select.select([client, chan], [], [], 60)
                if client in readable:
                    data = client.recv(1 << 16)
                    if not data:
                        break
                    chan.sendall(data)
                if chan in readable:
                    data = chan.recv(1 << 16)
                    if not data:
                        break
                    client.sendall(data)
        except OSError:
            pass
        finally:
            chan.close()
            client.close()

    def close(self) -> None:
        self.closed = True
        self.listener.close()


def forward(node, remote_port: int, local_port: int = 0) -> Forward:
    """The forward of this process to ``remote_port`` on ``node`` (made on first use)."""
    key = (id(node), remote_port)
    with _LOCK:
        existing = _FORWARDS.get(key)
        if existing is None or existing.closed or (local_port and existing.port != local_port):
            if existing is not None:
                existing.close()
            _FORWARDS[key] = Forward(node, remote_port, local_port=local_port)
        return _FORWARDS[key]


def close_forward(node, remote_port: int) -> None:
    with _LOCK:
        existing = _FORWARDS.pop((id(node), remote_port), None)
    if existing is not None:
        existing.close()
