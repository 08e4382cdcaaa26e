"""The local node: this machine, helper steps called in-process (no subprocess per step)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from trainers.node import dispatch
from trainers.objects import ObjectStore


class LocalNode:
    name = "localhost"

    def __init__(self, root: str | os.PathLike = "~/.trainyard"):
        self.root = Path(root).expanduser()
        self.python = sys.executable

    def call(self, verb: str, payload: dict) -> dict:
        return dispatch(self.root, verb, payload)

    def put_blob(self, oid: str, path: str | os.PathLike) -> None:
        ObjectStore(self.root / "objects").add_file(path, oid)

    def fetch(self, run_id: str, rel: str, dest: str | os.PathLike) -> None:
        shutil.copyfile(self.root / "runs" / run_id / rel, dest)

    def uv_path(self) -> str | None:
        try:
            from uv import find_uv_bin

            return find_uv_bin()
        except (ImportError, FileNotFoundError):
            return shutil.which("uv")

    def describe(self) -> dict:
        return {"name": self.name, "root": str(self.root)}

    def close(self) -> None:
        pass
