"""Connection holders: one SSH connection per node kept alive between CLI processes (like OpenSSH's
ControlPersist), so a new ``trainyard`` process pays neither paramiko's import nor the handshake.

The first CLI process that reaches a node starts a holder in the background (its own session) and goes
on over a direct connection. The holder connects, keeps a helper started and ready, and listens on a unix
socket; later processes (``HeldNode``, which imports no paramiko) ask it for a helper and talk the helper
protocol through it, the holder relaying bytes over its one connection. It ends after ``IDLE_SECONDS``
without clients, when its connection drops, or on ``trainyard compute disconnect``.

Safety: sockets live in a directory owned by the user with mode 0700 (``$TRAINYARD_HOLDER_DIR``, else
``$XDG_RUNTIME_DIR/trainyard``, else ``/tmp/trainyard-<uid>``), each socket 0600, and the holder accepts
only peers of its own uid (``SO_PEERCRED``); a directory that is not ours disables holders. A socket's
name is a hash of everything the connection depends on (the node's workspace config with its pinned host
key, ``~/.ssh/config``, ``~/.ssh/known_hosts``, the helper's version), so a changed host key or config
never reuses an old holder. Any failure to use a holder (none yet, killed, stale socket, connection gone)
falls back to a direct connection without an error.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import socket
import stat
import struct
import subprocess
import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .helper import HelperNode, PipeReader, helper_oid
from .sshconfig import NodeConfig

IDLE_SECONDS = 300.0
OPEN, STOP, READY = b"open\n", b"stop\n", b"ready\n"
GREETING_TIMEOUT = 5.0  # how long a client waits for the holder to hand over a helper
_ENABLED = False


def enable_holders(enabled: bool = True) -> None:
    """Use connection holders for SSH nodes in this process (the CLI turns this on; ``TRAINYARD_HOLDER=0``
    turns it off)."""
    global _ENABLED
    _ENABLED = enabled


def holders_enabled() -> bool:
    return _ENABLED and os.environ.get("TRAINYARD_HOLDER", "1") != "0"


def holder_dir() -> Path | None:
    """The user's private socket directory (created 0700), or None when it is not safely ours."""
    if os.environ.get("TRAINYARD_HOLDER_DIR"):
        path = Path(os.environ["TRAINYARD_HOLDER_DIR"])
    elif os.environ.get("XDG_RUNTIME_DIR"):
        path = Path(os.environ["XDG_RUNTIME_DIR"]) / "trainyard"
    else:
        path = Path(f"/tmp/trainyard-{os.getuid()}")
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = os.lstat(path)
    except OSError:
        return None
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
        return None
    return path


def _digest_file(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return ""


def holder_key(config: NodeConfig) -> str:
    """What a held connection depends on, hashed: any change means another holder (pure over the files)."""
    ssh = Path.home() / ".ssh"
    material = {"node": asdict(config), "ssh_config": _digest_file(ssh / "config"),
                "known_hosts": _digest_file(ssh / "known_hosts"), "helper": helper_oid(), "uid": os.getuid()}
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()[:20]


def socket_path(config: NodeConfig) -> Path | None:
    directory = holder_dir()
    return None if directory is None else directory / f"{holder_key(config)}.sock"


# -- the client side --------------------------------------------------------------------------------------
def _connect(path: Path, timeout: float) -> socket.socket | None:
    """A connection to the holder at ``path``, or None (absent, not ours, stale: a stale socket is removed)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    if not stat.S_ISSOCK(st.st_mode) or st.st_uid != os.getuid():
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(str(path))
        return sock
    except ConnectionRefusedError:  # the holder is gone and left its socket behind
        sock.close()
        path.unlink(missing_ok=True)
    except OSError:
        sock.close()
    return None


def _open_held_helper(path: Path) -> tuple[socket.socket, PipeReader] | None:
    """A helper handed over by the holder at ``path`` (its socket and reader), or None."""
    sock = _connect(path, GREETING_TIMEOUT)
    if sock is None:
        return None
    try:
        sock.sendall(OPEN)
        reader = PipeReader(sock)
        if reader.readline() == READY:
            return sock, reader
    except OSError:
        pass
    sock.close()
    return None


class HeldNode(HelperNode):
    """A node reached through its connection holder (the ``Node`` interface, no paramiko). Should the
    holder go away while this process uses it, the node carries on over a direct connection."""

    def __init__(self, config: NodeConfig, path: Path):
        super().__init__(config)
        self.path = path
        self.direct: Any = None  # the SSHNode used once the holder is gone

    @classmethod
    def open(cls, config: NodeConfig) -> HeldNode | None:
        """A node served by a running holder, with its helper ready; None when there is no usable holder."""
        path = socket_path(config)
        held = _open_held_helper(path) if path is not None else None
        if held is None:
            return None
        node = cls(config, path)
        node._pipe, node._reader = held
        return node

    def _open_pipe(self) -> tuple[Any, PipeReader]:
        held = _open_held_helper(self.path) if self.direct is None else None
        return held or self._open_direct()

    def _open_direct(self) -> tuple[Any, PipeReader]:
        if self.direct is None:
            from .ssh import SSHNode  # start-up time: paramiko loads only when the holder is gone

            self.direct = SSHNode(self.config)
            self.link_errors = self.direct.link_errors
        return self.direct.start_helper()

    def _is_open(self, pipe: Any) -> bool:
        return self.direct is None or self.direct._is_open(pipe)

    def close(self) -> None:
        super().close()
        if self.direct is not None:
            self.direct.close()


def start_holder(config: NodeConfig) -> None:
    """Start a holder for ``config`` in the background (its own session), unless holders are unsafe here.
    Returns at once; a second holder for the same key exits by itself."""
    path = socket_path(config)
    if path is None:
        return
    try:
        with open(path.with_suffix(".log"), "wb") as log:  # one holder per key: its own log
            proc = subprocess.Popen([sys.executable, "-m", "trainyard.transport.holder", str(path)],
                                    stdin=subprocess.PIPE, stdout=log, stderr=log, start_new_session=True)
        with proc.stdin:
            proc.stdin.write(json.dumps(asdict(config)).encode())
    except OSError:
        pass  # no holder: every process connects directly, as without holders


def stop_holders(configs: list[NodeConfig] | None = None) -> int:
    """Ask the holders of ``configs`` (all of this user's when None) to end; returns how many did."""
    directory = holder_dir()
    if directory is None:
        return 0
    paths = sorted(directory.glob("*.sock")) if configs is None else [socket_path(c) for c in configs]
    stopped = 0
    for path in paths:
        sock = _connect(path, GREETING_TIMEOUT) if path is not None else None
        if sock is None:
            continue
        with sock:
            try:
                sock.sendall(STOP)
                stopped += sock.recv(16) == READY
            except OSError:
                pass
    return stopped


# -- the holder process -----------------------------------------------------------------------------------
def _peer_uid(conn: socket.socket) -> int:
    _pid, uid, _gid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                         struct.calcsize("3i")))
    return uid


def _relay(src: Any, dst: Any, end_dst) -> None:
    """Copy bytes from ``src`` to ``dst`` until ``src`` ends, then ``end_dst()`` (so the far side sees the
    end too)."""
    try:
        while data := src.recv(1 << 20):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        try:
            end_dst()
        except OSError:
            pass


class Holder:
    """The process behind one socket: a connection to one node and helpers handed to clients."""

    def __init__(self, config: NodeConfig, path: Path, idle: float = IDLE_SECONDS):
        from .ssh import SSHNode  # start-up time: only the holder process needs paramiko

        self.node = SSHNode(config)
        self.path = path
        self.idle = idle
        self.clients = 0
        self.last_active = time.monotonic()
        self.lock = threading.Lock()
        self.spare: tuple[Any, PipeReader] | None = None
        self.stopping = False

    def _take_helper(self) -> tuple[Any, PipeReader]:
        with self.lock:
            spare, self.spare = self.spare, None
        if spare is not None and self.node._is_open(spare[0]):
            helper = spare
        else:
            helper = self.node.start_helper()
        threading.Thread(target=self._prepare_spare, daemon=True).start()
        return helper

    def _prepare_spare(self) -> None:
        try:
            helper = self.node.start_helper()
        except Exception:  # noqa: BLE001 - the next client starts one itself, or finds the connection gone
            return
        with self.lock:
            old, self.spare = self.spare, helper
        if old is not None:
            old[0].close()

    def serve_client(self, conn: socket.socket) -> None:
        with self.lock:
            self.clients += 1
        try:
            conn.settimeout(GREETING_TIMEOUT)
            first = PipeReader(conn).readline()
            if first == STOP:
                self.stopping = True
                conn.sendall(READY)
                return
            if first != OPEN:
                return
            chan, reader = self._take_helper()
            conn.sendall(READY)
            print(f"{time.strftime('%H:%M:%S')} served a client", file=sys.stderr, flush=True)
            conn.settimeout(None)
            chan.settimeout(None)
            if reader.buf:
                conn.sendall(bytes(reader.buf))
            back = threading.Thread(target=_relay, args=(chan, conn, lambda: conn.shutdown(socket.SHUT_WR)),
                                    daemon=True)
            back.start()
            _relay(conn, chan, chan.shutdown_write)
            back.join()
            chan.close()
        except Exception:  # noqa: BLE001 - one client's failure must not end the holder
            pass
        finally:
            conn.close()
            with self.lock:
                self.clients -= 1
                self.last_active = time.monotonic()

    def run(self) -> int:
        self.node.connect()
        self._prepare_spare()
        print(f"{time.strftime('%H:%M:%S')} holder {os.getpid()} connected to {self.node.where}", file=sys.stderr,
              flush=True)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        old_umask = os.umask(0o177)
        try:
            listener.bind(str(tmp))
        finally:
            os.umask(old_umask)
        os.chmod(tmp, 0o600)
        listener.listen(16)
        os.replace(tmp, self.path)
        mine = os.stat(self.path).st_ino
        listener.settimeout(1.0)
        try:
            while not self.stopping:
                if not self.node.is_connected():
                    break  # the connection dropped: clients fall back to connecting directly
                with self.lock:
                    idle = self.clients == 0 and time.monotonic() - self.last_active > self.idle
                if idle:
                    break
                try:
                    conn, _ = listener.accept()
                except TimeoutError:
                    continue
                if _peer_uid(conn) != os.getuid():
                    conn.close()
                    continue
                with self.lock:
                    self.last_active = time.monotonic()
                threading.Thread(target=self.serve_client, args=(conn,), daemon=True).start()
        finally:
            try:
                if os.stat(self.path).st_ino == mine:
                    self.path.unlink()
            except OSError:
                pass
            listener.close()
            self.node.close()
        return 0


def main(argv: list[str]) -> int:
    """``python -m trainyard.transport.holder SOCKET`` with the node's config as JSON on stdin."""
    path = Path(argv[0])
    config = NodeConfig(**json.loads(sys.stdin.read()))
    with open(path.with_suffix(".lock"), "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return 0  # another holder serves this key
        idle = float(os.environ.get("TRAINYARD_HOLDER_IDLE", IDLE_SECONDS))
        return Holder(config, path, idle).run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
