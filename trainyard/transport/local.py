"""The local node: this machine, helper steps called in-process (no subprocess per step)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from trainers.node import answer
from trainers.objects import NodeError, ObjectStore, hash_file

from ..errors import TransferError
from .helper import translate
from .node import ClosingNode, Progress, check_answer


class LocalNode(ClosingNode):
    name = "localhost"

    def __init__(self, root: str | os.PathLike = "~/.trainyard"):
        self.root = Path(root).expanduser()
        self.python = sys.executable

    def call(self, verb: str, payload: dict) -> dict:
        return check_answer(self.name, verb, answer(str(self.root), verb, payload))

    def put_blobs(self, items: list[tuple[str, str]], progress: Progress | None = None) -> int:
        store = ObjectStore(self.root / "objects")
        total = sum(os.path.getsize(p) for _, p in items)
        sent = 0
        try:
            for oid, path in items:
                store.add_file(path, oid)
                sent += os.path.getsize(path)
                if progress:
                    progress(sent, total)
        except (NodeError, OSError) as exc:
            raise translate(exc, TransferError, f"storing blobs in {self.root / 'objects'} failed",
                            "submit again — blobs already stored are not copied twice") from exc
        return sent

    def fetch_files(self, run_id: str, items: list[tuple[str, str]],
                    progress: Progress | None = None) -> dict[str, str]:
        """Copy run files to their destinations; returns rel → sha256, or "" where source and copy differ."""
        digests = {}
        try:
            for rel, dest in items:
                src = self.root / "runs" / run_id / rel
                if src.is_symlink() or not src.is_file():
                    continue
                shutil.copyfile(src, dest)
                digests[rel] = hash_file(dest) if hash_file(src) == hash_file(dest) else ""
                if progress:
                    progress(sum(os.path.getsize(d) for r, d in items if r in digests))
        except OSError as exc:
            raise translate(exc, TransferError, f"copying outputs of run {run_id} failed",
                            f"`trainyard runs attach {run_id}` resumes it") from exc
        return digests

    def uv_path(self) -> str | None:
        try:
            from uv import find_uv_bin  # start-up time: only a launch needs uv's location

            return find_uv_bin()
        except (ImportError, FileNotFoundError):
            return shutil.which("uv")

    def describe(self) -> dict:
        return {"name": self.name, "root": str(self.root)}
