"""Where connection holders may listen: only in a directory that is the user's own, mode 0700."""

from __future__ import annotations

import os

from trainyard.transport.holder import holder_dir, holder_key, socket_path
from trainyard.transport.sshconfig import NodeConfig


def test_private_directory_is_used_and_an_open_one_refused(tmp_path, monkeypatch):
    """A 0700 directory of ours holds sockets; one readable by others disables holders (direct connections)."""
    monkeypatch.setenv("TRAINYARD_HOLDER_DIR", str(tmp_path / "h"))
    assert holder_dir() == tmp_path / "h" and os.stat(tmp_path / "h").st_mode & 0o777 == 0o700
    os.chmod(tmp_path / "h", 0o755)
    assert holder_dir() is None and socket_path(NodeConfig("n", "127.0.0.1")) is None


def test_key_changes_with_the_pinned_host_key_and_known_hosts(tmp_path):
    """The socket name changes when the node's config (its pinned key) or ~/.ssh/known_hosts change."""
    node = NodeConfig("n", "127.0.0.1", port=2222, host_key="ssh-ed25519 AAAA1")
    first = holder_key(node)
    assert holder_key(NodeConfig("n", "127.0.0.1", port=2222, host_key="ssh-ed25519 AAAA1")) == first
    assert holder_key(NodeConfig("n", "127.0.0.1", port=2222, host_key="ssh-ed25519 AAAA2")) != first
    (tmp_path / "home" / ".ssh").mkdir()
    (tmp_path / "home" / ".ssh" / "known_hosts").write_text("[127.0.0.1]:2222 ssh-ed25519 AAAA3\n")
    assert holder_key(node) != first
