"""Real OpenSSH servers on 127.0.0.1 for tests and benchmarks: temp host keys, a client key, free ports."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"

CONFIG = """\
Port {port}
ListenAddress 127.0.0.1
HostKey {base}/host_key
PidFile {base}/sshd.pid
AuthorizedKeysFile {authorized}
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
UsePAM no
StrictModes no
Subsystem sftp internal-sftp
ClientAliveInterval 5
LogLevel ERROR
"""


def sshd_available() -> bool:
    return os.path.exists(SSHD) and shutil.which("ssh-keygen") is not None


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports free on 127.0.0.1 (all held open until all are chosen)."""
    socks = [socket.socket() for _ in range(count)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def keygen(path: Path) -> str:
    """Create an ed25519 key pair at ``path``; returns the public key line."""
    path.unlink(missing_ok=True)
    Path(str(path) + ".pub").unlink(missing_ok=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "trainyard-test", "-f", str(path)],
                   check=True)
    return Path(str(path) + ".pub").read_text().strip()


_SSHD_PORTS: set[int] = set()  # ports given to servers of this process: never two on one port


def _sshd_port() -> int:
    port = free_port()
    while port in _SSHD_PORTS:
        port = free_port()
    _SSHD_PORTS.add(port)
    return port


class Sshd:
    """One sshd listening on 127.0.0.1:<port>, with its own host key."""

    def __init__(self, base: Path, authorized_keys: Path):
        self.base = base
        base.mkdir(parents=True, exist_ok=True)
        self.port = _sshd_port()
        self.authorized = authorized_keys
        self.host_pub = keygen(base / "host_key")
        self.config = base / "sshd_config"
        self.config.write_text(CONFIG.format(port=self.port, base=base, authorized=authorized_keys))
        self.proc: subprocess.Popen | None = None
        self.started = False  # until the first start succeeds, nothing has pinned self.port yet

    @property
    def host_key(self) -> str:
        return " ".join(self.host_pub.split()[:2])

    def start(self) -> Sshd:
        """Start the listener and wait until it accepts connections. Its log goes to a file (a pipe nobody
        reads would fill up over a long session and block sshd). On a first start, a port taken meanwhile by
        another process (free_port only found it free) is replaced by another free one."""
        Path("/run/sshd").mkdir(exist_ok=True)
        log = self.base / "sshd.log"
        for _attempt in range(3):
            offset = log.stat().st_size if log.exists() else 0
            with open(log, "ab") as err:
                self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(self.config)], stderr=err)
            deadline = time.time() + 60  # generous: a loaded machine can be slow to start a process
            while time.time() < deadline:
                try:
                    socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                    self.started = True
                    return self
                except OSError:
                    if self.proc.poll() is not None:
                        break
                    time.sleep(0.05)
            else:
                raise RuntimeError(f"sshd did not start: {log.read_text(errors='replace')[-2000:]}")
            said = log.read_bytes()[offset:].decode(errors="replace")
            if self.started or "Address already in use" not in said:
                raise RuntimeError(f"sshd failed: {said[-2000:]}")
            self.port = _sshd_port()
            self.config.write_text(CONFIG.format(port=self.port, base=self.base, authorized=self.authorized))
        raise RuntimeError(f"sshd found no free port: {said[-2000:]}")

    def stop(self) -> None:
        """Kill this server's listener and its sshd session processes (not what the sessions started:
        like a real sshd restart, detached runs survive, connections drop)."""
        if self.proc is None:
            return
        for pid in [*_sshd_descendants(self.proc.pid), self.proc.pid]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait()
        self.proc = None

    def pause(self, resume: bool = False) -> None:
        """SIGSTOP (or SIGCONT) the listener and its sessions: the node goes silent, connections stay open,
        as when a machine hangs or the network drops packets."""
        for pid in [self.proc.pid, *_sshd_descendants(self.proc.pid)]:
            os.kill(pid, signal.SIGCONT if resume else signal.SIGSTOP)

    def replace_host_key(self) -> None:
        self.stop()
        self.host_pub = keygen(self.base / "host_key")
        self.start()


def _sshd_descendants(root: int) -> list[int]:
    """sshd processes below ``root`` (per-connection sessions), found through /proc."""
    children: dict[int, list[int]] = {}
    names: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            comm = stat[stat.index("(") + 1:stat.rindex(")")]
            ppid = int(stat[stat.rindex(")") + 2:].split()[1])
            children.setdefault(ppid, []).append(int(entry))
            names[int(entry)] = comm
    out, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if names.get(child) == "sshd":
                out.append(child)
                todo.append(child)
    return out


def node_entry(name: str, sshd: Sshd, key: Path, root: Path, **extra) -> dict:
    return {"name": name, "host": "127.0.0.1", "port": sshd.port, "user": "root", "identity_file": str(key),
            "host_key": sshd.host_key, "root": str(root), "connect_timeout": 5, **extra}
