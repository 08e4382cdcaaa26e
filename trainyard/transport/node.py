"""The node seam: what the engine needs from a machine that runs jobs, written down once.

A ``Node`` is a strict point of cut-off between the engine (submission, tracker) and the way a machine
is reached. ``LocalNode`` (this machine, in-process), ``SSHNode`` (one reused SSH connection) and
``FakeNode`` (in memory, for tests) implement it; a Slurm login node is another implementation.

- ``name``: how the node is named in the pool and in messages;
- ``call(verb, payload) -> dict``: one step of the node helper (``trainers.node``: info, have,
  put_manifest, materialise, launch, poll, cancel, list_files, gc);
- ``put_blobs([(oid, local path)], progress) -> bytes sent``: add blobs to the node's object cache;
- ``fetch_files(run_id, [(rel, local dest)], progress) -> {rel: sha256 or ""}``: copy run files back;
- ``describe() -> dict``: what a run record keeps about the node;
- ``python`` and ``uv_path()``: the interpreter and uv a launch names (None: the node finds its own);
- ``close()``; a node is a context manager that closes on exit.

Every implementation raises the same errors for the same failure: a step the helper refuses is
``NodeStepError`` (via ``check_answer``, the one place a helper answer is judged); a node that cannot be
reached is ``ConnectError``; a failed upload or download is ``TransferError``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ..errors import CommandError, NodeStepError

Progress = Callable[..., None]


@runtime_checkable
class Node(Protocol):
    name: str
    python: str | None

    def call(self, verb: str, payload: dict) -> dict: ...

    def put_blobs(self, items: list[tuple[str, str]], progress: Progress | None = None) -> int: ...

    def fetch_files(self, run_id: str, items: list[tuple[str, str]],
                    progress: Progress | None = None) -> dict[str, str]: ...

    def describe(self) -> dict: ...

    def uv_path(self) -> str | None: ...

    def close(self) -> None: ...

    def __enter__(self) -> Node: ...

    def __exit__(self, *exc_info: object) -> None: ...


class ClosingNode:
    """Mixin: the context manager every node shares (``with open_node(...) as node:``)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        pass


@dataclass(frozen=True)
class CommandResult:
    """What a command run on a node gave back (a value, not a ``(code, out, err)`` tuple)."""

    argv: list[str]
    exit_code: int
    stdout: bytes = b""
    stderr: bytes = b""

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def check(self) -> CommandResult:
        """Itself when it succeeded, else CommandError with the command, exit code and stderr tail."""
        if not self.ok:
            raise CommandError(self.argv, self.exit_code, self.stderr.decode(errors="replace"))
        return self


def check_answer(node: str, verb: str, answer: dict) -> dict:
    """A helper answer, or NodeStepError when the helper reported an error (``{"error", "type"}``)."""
    if "error" in answer:
        raise NodeStepError(node, verb, answer["error"], answer.get("type"))
    return answer
