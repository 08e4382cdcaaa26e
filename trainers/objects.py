"""Content-addressed blob store: ``<root>/objects/ab/cdef…`` keyed by sha256 (the ``oid``).

Standard library only: the node helper and the control plane share it. Objects are immutable: written to a
temp file, fsynced, renamed into place, never overwritten, and verified on read when asked.

Nodes hard-link objects into run directories, and mode 0444 does not stop a job running as root from
writing through such a link. So every object is *sealed* with a fixed mtime when stored; a write changes
the mtime. Queries are pure: ``has`` says whether an object is there, ``is_intact`` whether it is sealed
or still hashes to its oid. ``repair`` is the named operation the node's sync steps call: it seals an
intact unsealed object and drops an altered one (the next sync sends it again), so altered bytes are never
handed to later runs; ``verify`` raises on a corrupt object.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tempfile
from pathlib import Path

CHUNK = 1 << 20
SEALED_NS = 946_684_800 * 10**9  # 2000-01-01T00:00:00Z, the mtime of every stored object


def hash_file(path: str | os.PathLike) -> str:
    """sha256 hex digest of a file's content."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def manifest_bytes(entries: list[dict]) -> bytes:
    """The canonical serialisation of a manifest (list of {path, size, mode, oid}); its sha256 is its oid."""
    return json.dumps(sorted(entries, key=lambda e: e["path"]), sort_keys=True).encode()


class NodeError(Exception):
    """Base of errors raised by the node side (``trainers``); the CLI reports them like TrainyardError."""


class CorruptObjectError(NodeError):
    pass


class ObjectStore:
    """Blobs under ``root`` addressed by sha256."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def path(self, oid: str) -> Path:
        return self.root / oid[:2] / oid[2:]

    def has(self, oid: str) -> bool:
        """Whether an object is stored under ``oid`` (one ``stat``; no checking, no change)."""
        return self.path(oid).is_file()

    def is_sealed(self, oid: str) -> bool:
        """Whether the object is there with the sealed mtime (so nothing wrote to it since it was stored)."""
        try:
            return self.path(oid).stat().st_mtime_ns == SEALED_NS
        except FileNotFoundError:
            return False

    def is_intact(self, oid: str) -> bool:
        """Whether the object is there and sealed, or unsealed but still hashing to ``oid`` (no change)."""
        return self.is_sealed(oid) or (self.has(oid) and hash_file(self.path(oid)) == oid)

    def repair(self, oid: str) -> bool:
        """Keep the object only if intact: seal an unsealed one (written to since, or stored before objects
        were sealed) that still hashes to ``oid``, remove an altered one. Returns whether it is stored intact."""
        if self.is_sealed(oid):
            return True
        if not self.has(oid):
            return False
        path = self.path(oid)
        if hash_file(path) == oid:
            try:
                os.utime(path, ns=(SEALED_NS, SEALED_NS))
            except PermissionError:  # another user's store: intact, just not sealed by us
                pass
            return True
        path.unlink(missing_ok=True)
        return False

    def add_file(self, src: str | os.PathLike, oid: str | None = None) -> tuple[str, bool]:
        """Store a copy of ``src``; returns (oid, is_new). An existing object is never rewritten."""
        oid = oid or hash_file(src)
        if self.repair(oid):
            return oid, False
        with open(src, "rb") as fh:
            try:
                return oid, self.add_stream(fh, oid)
            except CorruptObjectError:
                raise CorruptObjectError(f"{src} changed while it was being stored; submit again") from None

    def add_stream(self, stream, oid: str) -> bool:
        """Store a stream that must hash to ``oid`` (temp file, fsync, rename); returns is_new.
        A mismatch stores nothing."""
        dest = self.path(oid)
        if self.repair(oid):
            return False
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=dest.parent)
        try:
            digest = hashlib.sha256()
            with os.fdopen(fd, "wb") as out:
                while chunk := stream.read(CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            if digest.hexdigest() != oid:
                raise CorruptObjectError(f"blob {oid[:12]} arrived corrupted (hashes to {digest.hexdigest()[:12]})")
            os.chmod(tmp, 0o444)
            os.utime(tmp, ns=(SEALED_NS, SEALED_NS))
            os.replace(tmp, dest)
            return True
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def add_bytes(self, data: bytes) -> tuple[str, bool]:
        """Store ``data``; returns (oid, is_new)."""
        oid = hashlib.sha256(data).hexdigest()
        return oid, self.add_stream(io.BytesIO(data), oid)

    def verify(self, oid: str) -> None:
        """Raise CorruptObjectError unless the object's content hashes to its oid."""
        actual = hash_file(self.path(oid))
        if actual != oid:
            raise CorruptObjectError(
                f"object {oid} in {self.root} is corrupt (content hashes to {actual}); "
                "delete it and re-upload the file it came from"
            )

    def copy_to(self, oid: str, dest: str | os.PathLike, verify: bool = True) -> None:
        """Copy an object out to ``dest`` (atomic), checking its hash first when ``verify``."""
        if verify:
            self.verify(oid)
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.tmp")
        shutil.copyfile(self.path(oid), tmp)
        os.replace(tmp, dest)
