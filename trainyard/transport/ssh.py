"""SSH nodes: the node helper run over one reused paramiko connection per node.

The connection lives here; the helper protocol is ``helper.HelperNode`` (shared with ``HeldNode``, which
reaches the same helper through a connection holder), the node's configuration (and ``~/.ssh/config``)
is ``sshconfig``, host-key pinning is ``hostkey``. The key the server offers is checked right after the
key exchange, before authenticating or sending anything. paramiko and socket failures (``LINK_ERRORS``)
become ConnectError, AuthError or TransferError through ``helper.translate``; a step the helper refuses is
NodeStepError, as on every node. Remote commands are argv lists joined with ``shlex.join``.
"""

from __future__ import annotations

import logging
import os
import posixpath
import shlex
import socket
import stat
import time
from pathlib import Path
from typing import NoReturn

import paramiko

from ..errors import AuthError, CommandError, ConnectError, TransferError, TransportError
from . import sshconfig
from .helper import (
    BOOTSTRAP,
    CHUNK,
    HELPER_MISSING,
    HelperNode,
    PipeReader,
    exclusive,
    helper_argv,
    helper_files,
    helper_oid,
    helper_shown,
    translate,
)
from .hostkey import check_host_key, fingerprint, parse_public_key
from .node import CommandResult
from .sshconfig import NodeConfig, resolve_ssh_config

__all__ = ["BOOTSTRAP", "HELPER_MISSING", "NodeConfig", "SSHNode", "fingerprint", "helper_files", "helper_oid",
           "offered_host_key", "parse_public_key", "resolve_ssh_config"]  # the names this module had before the split

LINK_ERRORS = (OSError, EOFError, paramiko.SSHException)  # what a dropped or refused link raises
PREFERRED_CIPHERS = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com")  # one AEAD pass per packet
WINDOW = 64 * 1024 * 1024
MAX_PACKET = 256 * 1024
DEFAULT_KEYS = ("~/.ssh/id_ed25519", "~/.ssh/id_ecdsa", "~/.ssh/id_rsa")


def _load_key(path: Path, passphrase: str | None = None) -> paramiko.PKey | None:
    """A private key file, or None when it needs a passphrase none was given for; a wrong passphrase or
    an unreadable file is a ValueError saying so (paramiko reports both as TypeError/ValueError)."""
    try:
        return paramiko.PKey.from_path(str(path), passphrase.encode() if passphrase is not None else None)
    except paramiko.PasswordRequiredException:
        if passphrase is None:
            return None
        raise ValueError("wrong passphrase") from None
    except TypeError as exc:
        if passphrase is None and "password" in str(exc):
            return None
        raise ValueError(f"unreadable key: {exc}") from exc
    except ValueError as exc:
        raise ValueError("wrong passphrase" if passphrase is not None else f"unreadable key: {exc}") from exc


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
        transport.banner_timeout = transport.handshake_timeout = timeout
        try:
            transport.start_client(timeout=timeout)
        except paramiko.SSHException as exc:
            if not isinstance(exc.__context__, TimeoutError):  # a peer that hung up or failed: a link error
                raise
            transport.close()  # the banner read timed out: the same hang as the silent give-up just below
        if not transport.is_active() or transport.host_key is None:  # start_client gave up waiting, silently
            transport.close()
            raise ConnectError(f"{host}:{port} accepted the connection but completed no SSH handshake within "
                               f"{timeout:.0f} s; the host or its sshd is hung, or this port is not SSH")
        return transport
    except LINK_ERRORS as exc:
        raise translate(exc, ConnectError, f"cannot connect to {host}:{port} within {timeout:.0f} s",
                         "check the host is up, the port is right and sshd is running") from exc


class SSHNode(HelperNode):
    """A node reached over SSH (the ``Node`` interface)."""

    link_errors = LINK_ERRORS

    def __init__(self, config: NodeConfig):
        super().__init__(resolve_ssh_config(config))
        self.name = config.name
        self._transport: paramiko.Transport | None = None
        self._jump: SSHNode | None = None
        self._sftp: paramiko.SFTPClient | None = None
        self._failed: tuple[float, TransportError] | None = None  # the last connect failure, reused briefly
        paramiko_log = logging.getLogger("paramiko")
        if not paramiko_log.handlers:  # its transport thread logs tracebacks; our errors say it in one line
            paramiko_log.addHandler(logging.NullHandler())

    # -- connection ---------------------------------------------------------------------------------
    def connect(self) -> paramiko.Transport:
        """The open connection, or a new one. A node that just failed to connect fails again at once for
        ``connect_timeout`` seconds, so a command probes each node once, not once per run or thread."""
        if self.is_connected():
            return self._transport
        if self._failed and time.monotonic() - self._failed[0] < self.config.connect_timeout:
            raise self._failed[1]
        try:
            return self._connect()
        except TransportError as exc:
            self._failed = (time.monotonic(), exc)
            raise

    def _connect(self) -> paramiko.Transport:
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

    def is_connected(self) -> bool:
        return self._transport is not None and self._transport.is_active()

    def _authenticate(self, transport: paramiko.Transport) -> None:
        """Public-key auth as OpenSSH does it: the identity file (workspace config or ~/.ssh/config) and the
        ssh-agent's keys, else the agent's and the default keys; a passphrase-protected file is unlocked
        through ``PASSPHRASE_PROMPT`` (the CLI sets it on a terminal), else left to the agent."""
        c = self.config
        user = c.user or os.environ.get("USER") or "root"
        files = [c.identity_file] if c.identity_file else [p for p in DEFAULT_KEYS
                                                           if Path(os.path.expanduser(p)).is_file()]
        tried: list[str] = []
        agent = paramiko.Agent() if os.environ.get("SSH_AUTH_SOCK") else None
        try:
            for label, key in self._candidate_keys(files, agent, tried):
                try:
                    transport.auth_publickey(user, key)
                    return
                except paramiko.AuthenticationException:
                    tried.append(f"{label} (refused)")
                except (paramiko.SSHException, OSError) as exc:
                    raise AuthError(f"{user}@{c.host}:{c.port}: authentication failed with {label} ({exc})") from exc
        finally:
            if agent is not None:
                agent.close()
        if c.identity_file and len(tried) == 1:
            raise AuthError(f"{user}@{c.host}:{c.port} refused key {c.identity_file} ({tried[0]}); check the user "
                            "and that the public key is in the node's authorized_keys")
        raise AuthError(f"{user}@{c.host}:{c.port}: no key was accepted; tried: {'; '.join(tried) or 'nothing'}. "
                        "Set identity_file in the workspace config (or IdentityFile in ~/.ssh/config), load the key "
                        "into ssh-agent (`ssh-add`), and check that its public key is in the node's authorized_keys")

    def _candidate_keys(self, files: list[str], agent, tried: list[str]):
        """(label, key) to offer, in order: the identity files, then the agent's keys."""
        offered = set()
        for name in files:
            path = Path(os.path.expanduser(name))
            try:
                key = _load_key(path)
                if key is None:
                    prompt = sshconfig.PASSPHRASE_PROMPT  # set by the CLI when it can ask on a terminal
                    if prompt is None:
                        tried.append(f"{path} (passphrase-protected and no terminal to ask on: load it with "
                                     f"`ssh-add {path}`)")
                        continue
                    key = _load_key(path, prompt(str(path)))
            except (paramiko.SSHException, OSError, ValueError) as exc:
                tried.append(f"{path} ({exc})")
                continue
            offered.add(key.asbytes())
            yield str(path), key
        for key in agent.get_keys() if agent is not None else ():
            if key.asbytes() not in offered:
                offered.add(key.asbytes())
                yield f"ssh-agent key {fingerprint(key)}", key

    def close(self) -> None:
        super().close()
        for thing in (self._sftp, self._transport):
            if thing is not None:
                try:
                    thing.close()
                except Exception:  # noqa: BLE001 - closing a dead connection
                    pass
        self._sftp = self._transport = None
        if self._jump is not None:
            self._jump.close()
            self._jump = None

    # -- commands --------------------------------------------------------------------------------
    @exclusive
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
                    raise translate(exc, ConnectError,
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
            raise translate(exc, ConnectError, f"{self.where} stopped answering while running {argv[0]}") from exc
        finally:
            chan.close()
        return CommandResult(argv, code, bytes(out), bytes(err))

    def sftp(self) -> paramiko.SFTPClient:
        transport = self.connect()
        if self._sftp is None or self._sftp.get_channel().closed:
            self._sftp = paramiko.SFTPClient.from_transport(transport)
        return self._sftp

    def start_helper(self) -> tuple[paramiko.Channel, PipeReader]:
        """A new helper process on this connection (``trainers.node serve``) that has greeted, and its
        reader. It is started straight away; only when the node says it lacks this helper version is the
        helper shipped."""
        argv = helper_argv(self.config, "serve")
        for attempt in (1, 2):
            chan = self.connect().open_session(timeout=self.config.connect_timeout)
            chan.settimeout(self.config.command_timeout)
            chan.exec_command(shlex.join(argv))
            reader = PipeReader(chan)
            if reader.readline():  # the helper's greeting: it runs
                return chan, reader
            code = chan.recv_exit_status()
            err = chan.recv_stderr(65536).decode(errors="replace") if chan.recv_stderr_ready() else ""
            chan.close()
            if code < 0:  # no exit status: the connection dropped, the helper did not fail
                raise EOFError("the connection closed while the node helper was starting")
            if code != HELPER_MISSING or attempt == 2:
                raise CommandError(helper_shown(self.config), code, err or "the node helper did not start; "
                                   f"check that {self.config.python!r} runs on the node")
            self.ship_helper()
        raise AssertionError("unreachable")

    def _open_pipe(self) -> tuple[paramiko.Channel, PipeReader]:
        return self.start_helper()

    def _is_open(self, pipe: paramiko.Channel) -> bool:
        return not pipe.closed and not pipe.exit_status_ready()

    def _pipe_ended(self, pipe: paramiko.Channel) -> NoReturn:
        code = pipe.recv_exit_status() if self._transport and self._transport.is_active() else -1
        if code < 0:  # no exit status: the connection itself went away
            raise EOFError("connection closed")
        err = pipe.recv_stderr(65536).decode(errors="replace") if pipe.recv_stderr_ready() else ""
        raise CommandError(helper_shown(self.config), code, err or "the node helper exited")

    def open_tunnel(self, host: str, port: int):
        """A channel to ``host:port`` as the node sees it (``direct-tcpip``), for forwarding a service port."""
        transport = self._transport
        if transport is None or not transport.is_active():
            with self._lock:
                transport = self.connect()
        try:
            return transport.open_channel("direct-tcpip", (host, port), ("127.0.0.1", 0),
                                          timeout=self.config.connect_timeout)
        except LINK_ERRORS as exc:
            raise translate(exc, ConnectError, f"cannot reach {host}:{port} through {self.config.host}:"
                            f"{self.config.port}", "is the service running?") from exc

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
            files = helper_files()
            for d in sorted({posixpath.dirname(rel) for rel in files}):
                _makedirs(sftp, posixpath.join(tmp, "trainers", d))
            for rel, p in files.items():
                sftp.put(str(p), f"{tmp}/trainers/{rel}")
            with sftp.open(f"{tmp}/.complete", "w") as fh:
                fh.write(helper_oid())
            try:
                sftp.posix_rename(tmp, target)
            except OSError:  # another client shipped it first
                self.exec(["rm", "-rf", tmp]).check()
        return target


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

