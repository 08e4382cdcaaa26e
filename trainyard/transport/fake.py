"""An in-memory node for tests of the engine: the ``Node`` interface with no machine behind it.

Like httpx's ``MockTransport(handler)``: the blob cache and manifests live in dicts and behave as a
node's do (``have``, ``put_manifest`` with deltas, ``put_blobs``); every other verb goes to ``handler``
(verb, payload) → answer dict, and an ``{"error": ...}`` answer raises ``NodeStepError`` exactly as the
real nodes do. ``calls`` records each step; ``files`` ({(run_id, rel): bytes}) is what ``fetch_files``
serves; ``fail_with`` makes every operation raise (an unreachable node).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

from trainers.node import apply_manifest_delta
from trainers.objects import manifest_bytes

from ..errors import TransportError
from .node import ClosingNode, Progress, check_answer

Handler = Callable[[str, dict], dict]


def _unhandled(verb: str, payload: dict) -> dict:
    return {"error": f"the fake node has no handler for {verb!r}", "type": "NodeError"}


class FakeNode(ClosingNode):
    def __init__(self, name: str = "fake", handler: Handler | None = None, python: str | None = None):
        self.name = name
        self.python = python
        self.handler = handler or _unhandled
        self.blobs: dict[str, bytes] = {}  # oid → content, manifests included
        self.files: dict[tuple[str, str], bytes] = {}
        self.calls: list[tuple[str, dict]] = []
        self.fail_with: TransportError | None = None
        self.closed = False

    def _check_reachable(self) -> None:
        if self.fail_with is not None:
            raise self.fail_with

    def call(self, verb: str, payload: dict) -> dict:
        self._check_reachable()
        self.calls.append((verb, payload))
        if verb == "have":
            answer = {"missing": [oid for oid in payload["oids"] if oid not in self.blobs]}
        elif verb == "put_manifest":
            answer = self._put_manifest(payload)
        else:
            answer = self.handler(verb, payload)
        return check_answer(self.name, verb, answer)

    def _put_manifest(self, payload: dict) -> dict:
        base = None
        if "entries" not in payload:
            if payload["base"] not in self.blobs:
                return {"error": f"no base manifest {payload['base'][:12]}", "type": "NodeError"}
            base = json.loads(self.blobs[payload["base"]])
        data = manifest_bytes(apply_manifest_delta(payload, base))
        if hashlib.sha256(data).hexdigest() != payload["oid"]:
            return {"error": f"manifest {payload['oid'][:12]} did not reassemble correctly", "type": "NodeError"}
        self.blobs[payload["oid"]] = data
        return {"oid": payload["oid"]}

    def put_blobs(self, items: list[tuple[str, str]], progress: Progress | None = None) -> int:
        self._check_reachable()
        sent = 0
        for oid, path in items:
            self.blobs[oid] = Path(path).read_bytes()
            sent += len(self.blobs[oid])
        return sent

    def fetch_files(self, run_id: str, items: list[tuple[str, str]],
                    progress: Progress | None = None) -> dict[str, str]:
        self._check_reachable()
        digests = {}
        for rel, dest in items:
            if (run_id, rel) in self.files:
                Path(dest).write_bytes(self.files[run_id, rel])
                digests[rel] = hashlib.sha256(self.files[run_id, rel]).hexdigest()
        return digests

    def uv_path(self) -> str | None:
        return None

    def describe(self) -> dict:
        return {"name": self.name}

    def close(self) -> None:
        self.closed = True
