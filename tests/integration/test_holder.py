"""Connection holders against a real sshd: reuse, safe fallback, no reuse after a config change, privacy."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import run_cli, wait_until
from tests.e2e.jobs import make_project
from tests.integration.conftest import set_config
from trainers.supervisor import is_alive
from trainyard.transport.holder import holder_dir

IN_PROCESS = """
import sys
from trainyard import Workspace
from trainyard.transport import open_node
from trainyard.transport.holder import enable_holders
enable_holders()
node = open_node(Workspace.load(), "pool", "n1")
print(type(node).__name__, node.call("info", {})["python"][:2], "paramiko" in sys.modules)
"""


def one_node_pool(pool, tmp_path):
    cfg = pool["config"]
    cfg["computes"]["pool"]["nodes"] = cfg["computes"]["pool"]["nodes"][:1]
    set_config(tmp_path, cfg)
    return cfg


def submit(job, *args):
    return run_cli("submit", str(job), "--compute", "pool", *args)


def held_socket(timeout: float = 30) -> Path:
    """The one holder socket, once its holder listens."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        socks = list(holder_dir().glob("*.sock"))
        if socks:
            return socks[0]
        time.sleep(0.1)
    raise AssertionError("no connection holder came up")


def holder_pid(sock: Path) -> int:
    return int(re.findall(r"holder (\d+) connected", sock.with_suffix(".log").read_text())[-1])


def test_later_cli_processes_use_the_held_connection(pool, tmp_path):
    """The first CLI command leaves a holder (socket 0600 in a 0700 directory); later processes are served
    by it and never import paramiko."""
    one_node_pool(pool, tmp_path)
    job = make_project(tmp_path)
    assert submit(job).returncode == 0
    sock = held_socket()
    assert os.stat(sock).st_mode & 0o777 == 0o600 and os.stat(sock.parent).st_mode & 0o777 == 0o700
    second = submit(job)
    assert second.returncode == 0, second.stderr
    assert "served a client" in sock.with_suffix(".log").read_text()
    out = subprocess.run([sys.executable, "-c", IN_PROCESS], capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["HeldNode", "3.", "False"], out.stderr


def test_killed_holder_and_stale_socket_fall_back_silently(pool, tmp_path):
    """With the holder killed (its socket left behind), the next command connects directly with no error
    shown, and a new holder takes over."""
    one_node_pool(pool, tmp_path)
    job = make_project(tmp_path)
    assert submit(job).returncode == 0
    sock = held_socket()
    old = holder_pid(sock)
    os.kill(old, signal.SIGKILL)
    wait_until(lambda: not is_alive(old, None), timeout=30, what="the killed holder to be gone")
    assert sock.exists()  # stale
    out = submit(job)
    assert out.returncode == 0, out.stderr
    assert "error" not in out.stderr.lower() and "warning" not in out.stderr.lower()
    wait_until(lambda: sock.exists() and holder_pid(sock) != old, timeout=30, what="a new holder")


def test_changed_pinned_host_key_does_not_reuse_the_holder(pool, tmp_path):
    """Once the workspace pins another host key, the old holder is not used: the connection is checked
    afresh and refused."""
    cfg = one_node_pool(pool, tmp_path)
    job = make_project(tmp_path)
    assert submit(job).returncode == 0
    held_socket()
    other = (Path(pool["key"]).parent / "node2" / "host_key.pub").read_text().split()
    cfg["computes"]["pool"]["nodes"][0]["host_key"] = f"{other[0]} {other[1]}"
    set_config(tmp_path, cfg)
    out = submit(job)
    assert out.returncode == 1 and "CHANGED" in out.stderr


def test_disconnect_ends_holders(pool, tmp_path):
    """`compute disconnect pool` ends the pool's holders; the next command connects afresh."""
    one_node_pool(pool, tmp_path)
    job = make_project(tmp_path)
    assert submit(job).returncode == 0
    sock = held_socket()
    out = run_cli("compute", "disconnect", "pool")
    assert out.returncode == 0 and out.stdout.strip() == "ended 1 connection holder"
    wait_until(lambda: not sock.exists(), timeout=30, what="the holder's socket to go")
    assert run_cli("compute", "disconnect").stdout.strip() == "ended 0 connection holders"


def test_another_user_cannot_reach_a_holder(pool, tmp_path):
    """A process of another user cannot connect to the socket (0700 directory, 0600 socket, peer uid check)."""
    one_node_pool(pool, tmp_path)
    assert submit(make_project(tmp_path)).returncode == 0
    sock = held_socket()
    probe = ("import socket, sys\ns = socket.socket(socket.AF_UNIX)\n"
             "try:\n    s.connect(sys.argv[1])\nexcept PermissionError:\n    print('refused')\n")
    out = subprocess.run(["/usr/bin/python3", "-S", "-c", probe, str(sock)], capture_output=True, text=True,
                         user=65534, group=65534, timeout=30, cwd="/")
    assert out.stdout.strip() == "refused", out.stderr


def test_holder_killed_while_in_use_continues_directly(pool, tmp_path):
    """A process using a holder that is killed under it carries on over a direct connection."""
    from trainyard import Workspace
    from trainyard.transport import close_all, open_node
    from trainyard.transport.holder import HeldNode, enable_holders

    one_node_pool(pool, tmp_path)
    assert submit(make_project(tmp_path)).returncode == 0
    sock = held_socket()
    enable_holders()
    try:
        node = open_node(Workspace.load(), "pool", "n1")
        assert isinstance(node, HeldNode) and node.call("info", {})["python"].startswith("3.")
        os.kill(holder_pid(sock), signal.SIGKILL)
        assert node.call("info", {})["python"].startswith("3.")
        assert node.direct is not None
    finally:
        enable_holders(False)
        close_all()
