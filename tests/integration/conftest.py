"""Real OpenSSH sshd fixtures: two servers on 127.0.0.1 (a 2-node pool) with pinned host keys."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import missing
from tests.sshd import Sshd, keygen, node_entry, sshd_available
from trainyard.transport import close_all


@pytest.fixture(scope="session")
def ssh_env(tmp_path_factory):
    if not sshd_available():
        missing("OpenSSH sshd is not installed (apt-get install openssh-server; .ci/run does it)")
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


@pytest.fixture(scope="session")
def slurm_env(ssh_env, tmp_path_factory):
    """A real single-node Slurm cluster (munged, slurmctld, slurmd; 4 CPUs declared) and a login node: an
    sshd on loopback whose sessions reach the cluster through SLURM_CONF. ``squeue`` on the login node's
    PATH is a wrapper that counts its calls."""
    from tests.slurm import SlurmCluster, slurm_available

    if not slurm_available():
        missing("Slurm is not installed (apt-get install slurm-wlm munge; .ci/run does it)")
    base = tmp_path_factory.mktemp("slurm")
    cluster = SlurmCluster(base / "cluster").start()
    login = Sshd(base / "login", ssh_env["base"] / "authorized_keys").start()
    bin_dir = base / "bin"
    bin_dir.mkdir()
    calls = base / "squeue.calls"
    (bin_dir / "squeue").write_text(f"#!/bin/sh\necho \"$*\" >> {calls}\nexec /usr/bin/squeue \"$@\"\n")
    (bin_dir / "squeue").chmod(0o755)
    (bin_dir / "python").symlink_to("/usr/bin/python3")  # the cluster's `python`, as a module load would give
    from uv import find_uv_bin  # the uv the control plane's venv ships

    uv = find_uv_bin()
    if uv:
        (bin_dir / "uv").symlink_to(uv)
    env = {**cluster.env, "PATH": f"{bin_dir}:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"}
    yield {"cluster": cluster, "login": login, "env": env, "calls": calls, "key": ssh_env["key"]}
    login.stop()
    cluster.stop()


@pytest.fixture
def hpc(slurm_env, tmp_path):
    """A workspace whose `hpc` compute is the Slurm cluster, with its shared root in this test's tmp dir."""
    login = slurm_env["login"]
    if login.proc is None or login.proc.poll() is not None:
        login.start()
    entry = node_entry("login", login, slurm_env["key"], tmp_path / "shared")
    compute = {"type": "slurm", "root": str(tmp_path / "shared"), "nodes": [entry], "partition": "debug",
               "env": slurm_env["env"], "queue_max_age": 1.0}
    config = {"name": "ws", "root": ".", "limits": {"cancel_grace_seconds": 2, "not_responding_after_seconds": 1},
              "computes": {"hpc": compute}}
    (tmp_path / ".trainyard").mkdir(exist_ok=True)
    (tmp_path / ".trainyard" / "config.json").write_text(json.dumps(config))
    yield {**slurm_env, "config": config, "root": tmp_path / "shared"}
    close_all()
    slurm_env["cluster"].resume()
