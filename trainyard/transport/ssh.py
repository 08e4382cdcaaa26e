"""SSH nodes: the node helper run over one reused paramiko connection per node.

The connection and the helper live here; the node's configuration (and ``~/.ssh/config``) is
``sshconfig``, host-key pinning is ``hostkey``. The key the server offers is checked right after the key
exchange, before authenticating or sending anything. paramiko and socket failures (``LINK_ERRORS``)
become Trainyard errors in ``_translate`` only: ConnectError, AuthError or TransferError; a step the helper
refuses is NodeStepError, as on every node. Remote commands are argv lists joined with ``shlex.join``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shlex
import socket
import stat
import threading
from pathlib import Path

import paramiko

import trainers
from trainers.objects import hash_file
from trainers.stream import read_frames, write_frame

from ..errors import AuthError, CommandError, ConnectError, TransferError, TransportError
from .hostkey import check_host_key, fingerprint, parse_public_key
from .node import ClosingNode, CommandResult, Progress, check_answer
from .sshconfig import NodeConfig, resolve_ssh_config

__all__ = ["NodeConfig", "SSHNode", "fingerprint", "helper_oid", "offered_host_key", "parse_public_key",
           "resolve_ssh_config"]

CHUNK = 1024 * 1024
HELPER_MISSING = 97  # the bootstrap's exit code when this helper version is not on the node
BOOTSTRAP = f"""\
import os, sys
helper = os.path.expanduser(sys.argv.pop(1))
if not os.path.isfile(os.path.join(helper, ".complete")):
    sys.exit({HELPER_MISSING})
sys.path.insert(0, helper)
from trainers.node import main
sys.exit(main(sys.argv[1:]))
"""
LINK_ERRORS = (OSError, EOFError, paramiko.SSHException)  # what a dropped or refused link raises
IDEMPOTENT = {"info", "have", "poll", "list_files", "cancel", "put_manifest", "gc"}
PREFERRED_CIPHERS = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com")  # one AEAD pass per packet
WINDOW = 64 * 1024 * 1024
MAX_PACKET = 256 * 1024


class _ChannelReader:
    """``readline``/``read`` over a channel with large ``recv`` calls (paramiko's makefile is slow)."""

    def __init__(self, chan: paramiko.Channel):
        self.chan = chan
        self.buf = bytearray()
        self.eof = False

    def _fill(self) -> bool:
        if self.eof:
            return False
        data = self.chan.recv(1 << 20)
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def readline(self) -> bytes:
        while (i := self.buf.find(b"\n")) < 0 and self._fill():
            pass
        end = len(self.buf) if i < 0 else i + 1
        line = bytes(self.buf[:end])
        del self.buf[:end]
        return line

    def read(self, n: int) -> bytes:
        if not self.buf:
            self._fill()
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data


class _ChannelWriter:
    """File-like ``write`` onto a channel, counting bytes."""

    def __init__(self, chan: paramiko.Channel):
        self.chan = chan
        self.write_count = 0

    def write(self, data: bytes) -> None:
        self.chan.sendall(data)
        self.write_count += len(data)


def _exclusive(method):
    """Run ``method`` holding the node's lock: handles are shared across a process's threads."""

    @functools.wraps(method)
    def locked(self, *args, **kwargs):
        with self._lock:
            return method(self, *args, **kwargs)

    return locked


def _translate(exc: BaseException, error: type[TransportError], what: str, hint: str = "") -> TransportError:
    """The one place a paramiko or socket failure becomes a Trainyard error (``raise … from exc``)."""
    return error(f"{what} ({exc or type(exc).__name__})" + (f"; {hint}" if hint else ""))


def offered_host_key(host: str, port: int, timeout: float = 10.0) -> paramiko.PKey:
    """Do only the key exchange and return the server's host key (for `compute attach`)."""
    transport = _open_transport(host, port, timeout, None)
    try:
        return transport.get_remote_server_key()
    finally:
        transport.close()


def _open_transport(host: str, port: int, timeout: float, sock) -> paramiko.Transport:
    try:
        if sock is None:
            sock = socket.create_connection((host, port), timeout=timeout)
        transport = paramiko.Transport(sock, default_window_size=WINDOW, default_max_packet_size=MAX_PACKET)
        options = transport.get_security_options()
        options.ciphers = [c for c in PREFERRED_CIPHERS if c in options.ciphers] + \
            [c for c in options.ciphers if c not in PREFERRED_CIPHERS]
        transport.start_client(timeout=timeout)
        return transport
    except LINK_ERRORS as exc:
        raise _translate(exc, ConnectError, f"cannot connect to {host}:{port} within {timeout:.0f} s",
                         "check the host is up, the port is right and sshd is running") from exc


class SSHNode(ClosingNode):
    """A node reached over SSH (the ``Node`` interface)."""

    def __init__(self, config: NodeConfig):
        self.config = resolve_ssh_config(config)
        self.name = config.name
        self.python = None  # the node's default interpreter (the helper's own)
        self._transport: paramiko.Transport | None = None
        self._jump: SSHNode | None = None
        self._sftp: paramiko.SFTPClient | None = None
        self._server: paramiko.Channel | None = None
        self._server_out = None
        self.bytes_sent = 0
        self.bytes_received = 0
        self._lock = threading.RLock()  # one request at a time on the helper channel, whatever the thread

    # -- connection ---------------------------------------------------------------------------------
    def connect(self) -> paramiko.Transport:
        if self._transport is not None and self._transport.is_active():
            return self._transport
        self.close()
        c = self.config
        sock = None
        if c.proxy_jump:
            jump_host, _, jump_port = c.proxy_jump.rpartition("@")[2].partition(":")
            jump_user = c.proxy_jump.partition("@")[0] if "@" in c.proxy_jump else c.user
            self._jump = SSHNode(NodeConfig(name=f"{c.name}-jump", host=jump_host, port=int(jump_port or 22),
                                            user=jump_user, identity_file=c.identity_file,
                                            connect_timeout=c.connect_timeout))
            sock = self._jump.connect().open_channel("direct-tcpip", (c.host, c.port), ("127.0.0.1", 0),
                                                     timeout=c.connect_timeout)
        transport = _open_transport(c.host, c.port, c.connect_timeout, sock)
        try:
            check_host_key(c, transport.get_remote_server_key())
            self._authenticate(transport)
        except BaseException:
            transport.close()
            raise
        transport.set_keepalive(c.keepalive)
        self._transport = transport
        return transport

    def _authenticate(self, transport: paramiko.Transport) -> None:
        c = self.config
        user = c.user or os.environ.get("USER") or "root"
        key_path = Path(os.path.expanduser(c.identity_file)) if c.identity_file else None
        try:
            if key_path is None:
                raise AuthError(f"no identity file configured for {c.name} ({c.host}:{c.port}); set "
                                "identity_file in the workspace config or IdentityFile in ~/.ssh/config")
            key = paramiko.PKey.from_path(str(key_path))
            transport.auth_publickey(user, key)
        except (*LINK_ERRORS, ValueError) as exc:  # ValueError: a key file paramiko cannot read
            raise _translate(exc, AuthError, f"{user}@{c.host}:{c.port} refused key {key_path}",
                             "check the user and that the public key is in the node's authorized_keys") from exc

    def close(self) -> None:
        for thing in (self._server, self._sftp, self._transport):
            if thing is not None:
                try:
                    thing.close()
                except Exception:  # noqa: BLE001 - closing a dead connection
                    pass
        self._server = self._sftp = self._transport = None
        if self._jump is not None:
            self._jump.close()
            self._jump = None

    # -- commands --------------------------------------------------------------------------------
    @_exclusive
    def exec(self, argv: list[str], stdin: bytes = b"", timeout: float | None = None) -> CommandResult:
        """Run argv on the node and return its outcome (``.check()`` raises on a non-zero exit).
        Reconnects once if the link died."""
        for attempt in (1, 2):
            transport = self.connect()
            try:
                chan = transport.open_session(timeout=self.config.connect_timeout)
                break
            except LINK_ERRORS as exc:
                self.close()
                if attempt == 2:
                    raise _translate(exc, ConnectError,
                                     f"lost the connection to {self.config.host}:{self.config.port}") from exc
        chan.settimeout(timeout or self.config.command_timeout)
        try:
            chan.exec_command(shlex.join(argv))
            if stdin:
                chan.sendall(stdin)
            chan.shutdown_write()
            out, err = bytearray(), bytearray()
            while True:
                data = chan.recv(CHUNK)
                if not data:
                    break
                out += data
            while data := chan.recv_stderr(CHUNK):
                err += data
            code = chan.recv_exit_status()
        except LINK_ERRORS as exc:
            self.close()
            raise _translate(exc, ConnectError, f"{self.config.host}:{self.config.port} stopped answering while "
                             f"running {argv[0]}") from exc
        finally:
            chan.close()
        return CommandResult(argv, code, bytes(out), bytes(err))

    def sftp(self) -> paramiko.SFTPClient:
        transport = self.connect()
        if self._sftp is None or self._sftp.get_channel().closed:
            self._sftp = paramiko.SFTPClient.from_transport(transport)
        return self._sftp

    def _helper_argv(self, verb: str, *extra: str) -> list[str]:
        """The helper's command line; ``~`` in the root is expanded on the node, by the helper itself, and
        ``-S`` skips site-packages (the helper is standard library only)."""
        return ["env", *(f"{k}={v}" for k, v in sorted(self.config.env.items())), self.config.python, "-S", "-c",
                BOOTSTRAP, f"{self.config.root}/helper/{helper_oid()}", "--root", self.config.root, verb, *extra]

    def _helper_shown(self) -> list[str]:
        """The helper's command line as errors show it (without the bootstrap's source)."""
        return [self.config.python, "-m", "trainers.node", "--root", self.config.root, "serve"]

    def _server_channel(self) -> paramiko.Channel:
        """The long-lived helper process of this connection (``trainers.node serve``). It is started
        straight away; only when the node says it lacks this helper version is the helper shipped."""
        if self._server is not None and not self._server.closed and not self._server.exit_status_ready():
            return self._server
        argv = self._helper_argv("serve")
        for attempt in (1, 2):
            chan = self.connect().open_session(timeout=self.config.connect_timeout)
            chan.settimeout(self.config.command_timeout)
            chan.exec_command(shlex.join(argv))
            reader = _ChannelReader(chan)
            if reader.readline():  # the helper's greeting: it runs
                self._server, self._server_out = chan, reader
                return chan
            code = chan.recv_exit_status()
            err = chan.recv_stderr(65536).decode(errors="replace") if chan.recv_stderr_ready() else ""
            chan.close()
            if code != HELPER_MISSING or attempt == 2:
                raise CommandError(self._helper_shown(), code, err or "the node helper did not start; check "
                                   f"that {self.config.python!r} runs on the node")
            self.ship_helper()
        raise AssertionError("unreachable")

    @_exclusive
    def call(self, verb: str, payload: dict) -> dict:
        """One helper step over the connection's helper process; reconnects once for idempotent verbs."""
        request = (json.dumps({"verb": verb, "payload": payload}) + "\n").encode()
        timeout = self.config.command_timeout
        if verb == "poll":  # a silent node (powered off, cut off) must show NotResponding on time
            timeout = float(payload.get("wait") or 0) + self.config.connect_timeout
        for attempt in (1, 2):
            sent = False
            try:
                chan = self._server_channel()
                chan.settimeout(timeout)
                chan.sendall(request)
                sent = True
                line = self._server_out.readline()
                if not line:
                    code = chan.recv_exit_status() if self._transport and self._transport.is_active() else -1
                    if code < 0:  # no exit status: the connection itself went away
                        raise EOFError("connection closed")
                    err = chan.recv_stderr(65536).decode(errors="replace") if chan.recv_stderr_ready() else ""
                    raise CommandError(self._helper_shown(), code, err or "the node helper exited")
                break
            except LINK_ERRORS as exc:
                self.close()
                if attempt == 2 or (sent and verb not in IDEMPOTENT):
                    raise _translate(exc, ConnectError, f"{self.config.host}:{self.config.port} stopped "
                                     f"answering during {verb!r}") from exc
        answer = check_answer(self.name, verb, json.loads(line))
        if verb == "info":
            self.python = answer.get("executable")
        return answer

    # -- the helper -----------------------------------------------------------------------------------
    def ship_helper(self) -> str:
        """Copy ``trainers`` to ``ROOT/helper/<oid>/`` over SFTP (once per content); returns that directory."""
        sftp = self.sftp()
        root = self.config.root
        if root.startswith("~"):
            root = root.replace("~", sftp.normalize("."), 1)
        target = f"{root}/helper/{helper_oid()}"
        try:
            sftp.stat(f"{target}/.complete")
        except OSError:
            tmp = f"{target}.tmp-{os.getpid()}"
            _makedirs(sftp, f"{tmp}/trainers")
            for p in helper_files():
                sftp.put(str(p), f"{tmp}/trainers/{p.name}")
            with sftp.open(f"{tmp}/.complete", "w") as fh:
                fh.write(helper_oid())
            try:
                sftp.posix_rename(tmp, target)
            except OSError:  # another client shipped it first
                self.exec(["rm", "-rf", tmp]).check()
        return target

    # -- transfers ---------------------------------------------------------------------------------
    @_exclusive
    def put_blobs(self, items: list[tuple[str, str]], progress: Progress | None = None) -> int:
        """Send blobs as frames on the helper's channel; the node verifies each hash. Returns bytes sent."""
        if not items:
            return 0
        total = sum(os.path.getsize(p) for _, p in items)
        try:
            chan = self._server_channel()
            chan.settimeout(self.config.command_timeout)
            out = _ChannelWriter(chan)
            out.write((json.dumps({"verb": "receive", "payload": {"count": len(items)}}) + "\n").encode())
            for oid, path in items:
                write_frame(out, {"oid": oid}, str(path), os.path.getsize(path))
                if progress:
                    progress(min(out.write_count, total), total)  # frame headers are not file bytes
            answer = json.loads(self._server_out.readline() or b"{}")
        except (*LINK_ERRORS, ValueError) as exc:  # ValueError: an answer out of step with the stream
            self.close()
            raise _translate(exc, TransferError, f"uploading to {self.config.host}:{self.config.port} failed",
                             "submit again — blobs already stored on the node are not sent twice") from exc
        if "error" in answer or answer.get("stored") != len(items):
            self.close()  # the stream may be out of step: start afresh next time
            raise TransferError(f"the node rejected the upload: {answer.get('error', answer)}")
        self.bytes_sent += out.write_count
        return out.write_count

    @_exclusive
    def fetch_files(self, run_id: str, items: list[tuple[str, str]],
                    progress: Progress | None = None) -> dict[str, str]:
        """Pull run files (rel → local dest) as frames on the helper's channel; returns rel → sha256 of
        what was written, or "" where it differs from the digest the node computed while sending."""
        if not items:
            return {}
        dests = dict(items)
        received, mine, headers = 0, {}, []
        try:
            chan = self._server_channel()
            chan.settimeout(self.config.command_timeout)
            chan.sendall((json.dumps({"verb": "send", "payload": {"run_id": run_id, "paths": list(dests)}})
                          + "\n").encode())
            count = json.loads(self._server_out.readline() or b"{}")["count"]
            for header, body in read_frames(self._server_out, count):
                headers.append(header)
                dest = dests.get(header["path"])
                if dest is None:  # the node sent something we did not ask for: skip it
                    continue
                digest = hashlib.sha256()
                with open(dest, "wb") as out:
                    while chunk := body.read(CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
                        received += len(chunk)
                mine[header["path"]] = digest.hexdigest()
                if progress:
                    progress(received)
        except (*LINK_ERRORS, KeyError, ValueError) as exc:  # Key/ValueError: frames out of step
            self.close()
            raise _translate(exc, TransferError, f"downloading outputs of run {run_id} from {self.config.host} "
                             "failed", f"`trainyard runs attach {run_id}` resumes it") from exc
        self.bytes_received += received
        return {h["path"]: mine[h["path"]] if mine.get(h["path"]) == h.get("sha256") else ""
                for h in headers if h["path"] in mine}

    def uv_path(self) -> str | None:
        return None  # the node finds its own (PATH, or installed into its root)

    def describe(self) -> dict:
        return {"name": self.name, "host": self.config.host, "port": self.config.port}


def helper_files() -> list[Path]:
    return sorted(Path(trainers.__file__).parent.glob("*.py"))


@functools.cache
def helper_oid() -> str:
    """The helper's version on nodes: a hash of the ``trainers`` sources."""
    listing = "\n".join(f"{p.name} {hash_file(p)}" for p in helper_files())
    return hashlib.sha256(listing.encode()).hexdigest()[:24]


def _makedirs(sftp: paramiko.SFTPClient, path: str) -> None:
    parts = path.strip("/").split("/")
    current = ""
    for part in parts:
        current += "/" + part
        try:
            if not stat.S_ISDIR(sftp.stat(current).st_mode):
                raise TransferError(f"{current} on the node is not a directory")
        except FileNotFoundError:
            try:
                sftp.mkdir(current)
            except OSError:
                pass  # created concurrently

