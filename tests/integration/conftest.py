"""Real OpenSSH sshd fixtures: two servers on 127.0.0.1 (a 2-node pool) with pinned host keys."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.sshd import Sshd, keygen, node_entry, sshd_available
from trainyard.transport import close_all


@pytest.fixture(scope="session")
def ssh_env(tmp_path_factory):
    if not sshd_available():
        if os.environ.get("CI") == "true":
            pytest.fail("OpenSSH sshd is missing; .ci/run installs openssh-server")
        pytest.skip("OpenSSH sshd is not installed (apt-get install openssh-server)")
    base = tmp_path_factory.mktemp("sshd")
    key = base / "client_key"
    authorized = base / "authorized_keys"
    authorized.write_text(keygen(key) + "\n")
    servers = [Sshd(base / f"node{i}", authorized).start() for i in (1, 2)]
    yield {"key": key, "servers": servers, "base": base}
    for s in servers:
        s.stop()


@pytest.fixture
def pool(ssh_env, tmp_path):
    """A workspace whose `pool` compute has two 1-slot nodes; node roots live in this test's tmp dir."""
    s1, s2 = ssh_env["servers"]
    for s in (s1, s2):
        if s.proc is None or s.proc.poll() is not None:
            s.start()
    config = {"name": "ws", "root": ".", "limits": {"cancel_grace_seconds": 2, "not_responding_after_seconds": 1},
              "computes": {"pool": {"type": "ssh", "nodes": [
                  node_entry("n1", s1, ssh_env["key"], tmp_path / "node1", slots=1),
                  node_entry("n2", s2, ssh_env["key"], tmp_path / "node2", slots=1)]}}}
    (tmp_path / ".trainyard").mkdir(exist_ok=True)
    (tmp_path / ".trainyard" / "config.json").write_text(json.dumps(config))
    yield {"config": config, "servers": (s1, s2), "key": ssh_env["key"], "roots": (tmp_path / "node1",
                                                                                   tmp_path / "node2")}
    close_all()


def set_config(tmp_path: Path, config: dict) -> None:
    (tmp_path / ".trainyard" / "config.json").write_text(json.dumps(config))
