"""The node helper's protocol from the client side, over any byte pipe (no paramiko here).

The helper (``trainers.node serve``) answers JSON-line requests ``{"verb", "payload"}``; ``receive`` is
followed by blob frames and ``send`` is answered with file frames (``trainers.stream``). ``HelperNode``
speaks it over a *pipe*: anything with ``sendall``, ``recv`` and ``settimeout`` — an SSH channel
(``SSHNode``) or the unix socket of a connection holder (``HeldNode``). Failures of the pipe become
Trainyard errors in ``translate`` only.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Any, NoReturn

import trainers
from trainers.objects import hash_file
from trainers.stream import read_frames, write_frame

from ..errors import ConnectError, TransferError, TransportError
from .node import ClosingNode, Progress, check_answer
from .sshconfig import NodeConfig

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
IDEMPOTENT = {"info", "have", "poll", "list_files", "cancel", "put_manifest", "gc", "service_status",
              "service_logs", "service_list"}


def helper_files() -> dict[str, Path]:
    """The ``trainers`` sources by path relative to the package, with sub-packages (``compat/azureml``: the
    v1 shim jobs import)."""
    base = Path(trainers.__file__).parent
    return {p.relative_to(base).as_posix(): p for p in sorted(base.rglob("*.py"))}


@functools.cache
def helper_oid() -> str:
    """The helper's version on nodes: a hash of the ``trainers`` sources."""
    listing = "\n".join(f"{rel} {hash_file(p)}" for rel, p in helper_files().items())
    return hashlib.sha256(listing.encode()).hexdigest()[:24]


def helper_argv(config: NodeConfig, verb: str, *extra: str) -> list[str]:
    """The helper's command line; ``~`` in the root is expanded on the node, by the helper itself, and
    ``-S`` skips site-packages (the helper is standard library only)."""
    return ["env", *(f"{k}={v}" for k, v in sorted(config.env.items())), config.python, "-S", "-c",
            BOOTSTRAP, f"{config.root}/helper/{helper_oid()}", "--root", config.root, verb, *extra]


def helper_shown(config: NodeConfig) -> list[str]:
    """The helper's command line as errors show it (without the bootstrap's source)."""
    return [config.python, "-m", "trainers.node", "--root", config.root, "serve"]


def translate(exc: BaseException, error: type[TransportError], what: str, hint: str = "") -> TransportError:
    """The one place a failure of the link (paramiko, socket, a stream out of step) becomes a Trainyard
    error; callers ``raise translate(...) from exc``."""
    return error(f"{what} ({exc or type(exc).__name__})" + (f"; {hint}" if hint else ""))


class PipeReader:
    """``readline``/``read`` over a pipe with large ``recv`` calls (paramiko's makefile is slow)."""

    def __init__(self, pipe: Any, buffered: bytes = b""):
        self.pipe = pipe
        self.buf = bytearray(buffered)
        self.eof = False

    def _fill(self) -> bool:
        if self.eof:
            return False
        data = self.pipe.recv(1 << 20)
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


class PipeWriter:
    """File-like ``write`` onto a pipe, counting bytes."""

    def __init__(self, pipe: Any):
        self.pipe = pipe
        self.write_count = 0

    def write(self, data: bytes) -> None:
        self.pipe.sendall(data)
        self.write_count += len(data)


def exclusive(method):
    """Run ``method`` holding the node's lock: handles are shared across a process's threads."""

    @functools.wraps(method)
    def locked(self, *args, **kwargs):
        with self._lock:
            return method(self, *args, **kwargs)

    return locked


class HelperNode(ClosingNode):
    """A node whose steps go to a running helper over a pipe; subclasses say how the pipe is opened."""

    link_errors: tuple[type[BaseException], ...] = (OSError, EOFError)  # what a dropped pipe raises

    def __init__(self, config: NodeConfig):
        self.config = config
        self.name = config.name
        self.python: str | None = None  # the node's default interpreter (the helper's own)
        self.bytes_sent = 0
        self.bytes_received = 0
        self._pipe: Any = None
        self._reader: PipeReader | None = None
        self._lock = threading.RLock()  # one request at a time on the pipe, whatever the thread

    @property
    def where(self) -> str:
        return f"{self.config.host}:{self.config.port}"

    # -- what subclasses provide -------------------------------------------------------------------
    def _open_pipe(self) -> tuple[Any, PipeReader]:
        """A pipe to a helper that has greeted, and its reader."""
        raise NotImplementedError

    def _is_open(self, pipe: Any) -> bool:
        return True

    def _pipe_ended(self, pipe: Any) -> NoReturn:
        """The helper closed the pipe without answering: raise why."""
        raise EOFError("connection closed")

    def close(self) -> None:
        if self._pipe is not None:
            try:
                self._pipe.close()
            except Exception:  # noqa: BLE001 - closing a dead pipe
                pass
        self._pipe = self._reader = None

    # -- the protocol ------------------------------------------------------------------------------
    def _helper(self) -> tuple[Any, PipeReader]:
        if self._pipe is None or not self._is_open(self._pipe):
            self._pipe, self._reader = self._open_pipe()
        return self._pipe, self._reader

    @exclusive
    def call(self, verb: str, payload: dict) -> dict:
        """One helper step; reconnects once for idempotent verbs."""
        request = (json.dumps({"verb": verb, "payload": payload}) + "\n").encode()
        timeout = self.config.command_timeout
        if verb == "poll":  # a silent node (powered off, cut off) must show NotResponding on time
            timeout = float(payload.get("wait") or 0) + self.config.connect_timeout
        for attempt in (1, 2):
            sent = False
            try:
                pipe, reader = self._helper()
                pipe.settimeout(timeout)
                pipe.sendall(request)
                sent = True
                line = reader.readline()
                if not line:
                    self._pipe_ended(pipe)
                break
            except self.link_errors as exc:
                self.close()
                if attempt == 2 or (sent and verb not in IDEMPOTENT):
                    raise translate(exc, ConnectError, f"{self.where} stopped answering during {verb!r}") from exc
        answer = check_answer(self.name, verb, json.loads(line))
        if verb == "info":
            self.python = answer.get("executable")
        return answer

    @exclusive
    def put_blobs(self, items: list[tuple[str, str]], progress: Progress | None = None) -> int:
        """Send blobs as frames on the helper's pipe; the node verifies each hash. Returns bytes sent."""
        if not items:
            return 0
        total = sum(os.path.getsize(p) for _, p in items)
        try:
            pipe, reader = self._helper()
            pipe.settimeout(self.config.command_timeout)
            out = PipeWriter(pipe)
            out.write((json.dumps({"verb": "receive", "payload": {"count": len(items)}}) + "\n").encode())
            for oid, path in items:
                write_frame(out, {"oid": oid}, str(path), os.path.getsize(path))
                if progress:
                    progress(min(out.write_count, total), total)  # frame headers are not file bytes
            answer = json.loads(reader.readline() or b"{}")
        except (*self.link_errors, ValueError) as exc:  # ValueError: an answer out of step with the stream
            self.close()
            raise translate(exc, TransferError, f"uploading to {self.where} failed",
                            "submit again — blobs already stored on the node are not sent twice") from exc
        if "error" in answer or answer.get("stored") != len(items):
            self.close()  # the stream may be out of step: start afresh next time
            raise TransferError(f"the node rejected the upload: {answer.get('error', answer)}")
        self.bytes_sent += out.write_count
        return out.write_count

    @exclusive
    def fetch_files(self, run_id: str, items: list[tuple[str, str]],
                    progress: Progress | None = None) -> dict[str, str]:
        """Pull run files (rel → local dest) as frames on the helper's pipe; returns rel → sha256 of
        what was written, or "" where it differs from the digest the node computed while sending."""
        if not items:
            return {}
        dests = dict(items)
        received, mine, headers = 0, {}, []
        try:
            pipe, reader = self._helper()
            pipe.settimeout(self.config.command_timeout)
            pipe.sendall((json.dumps({"verb": "send", "payload": {"run_id": run_id, "paths": list(dests)}})
                          + "\n").encode())
            count = json.loads(reader.readline() or b"{}")["count"]
            for header, body in read_frames(reader, count):
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
        except (*self.link_errors, KeyError, ValueError) as exc:  # Key/ValueError: frames out of step
            self.close()
            raise translate(exc, TransferError, f"downloading outputs of run {run_id} from {self.config.host} "
                            "failed", f"`trainyard runs attach {run_id}` resumes it") from exc
        self.bytes_received += received
        return {h["path"]: mine[h["path"]] if mine.get(h["path"]) == h.get("sha256") else ""
                for h in headers if h["path"] in mine}

    def uv_path(self) -> str | None:
        return None  # the node finds its own (PATH, or installed into its root)

    def describe(self) -> dict:
        return {"name": self.name, "host": self.config.host, "port": self.config.port}
