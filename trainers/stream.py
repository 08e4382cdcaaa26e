"""One framing for bulk transfers in either direction: a JSON header line, exactly ``size`` bytes, and,
when the header says ``"digest": true``, a trailer line ``{"sha256": ...}`` computed while sending.

Blobs go to a node as ``{"oid", "size"}`` frames (the oid is the hash, so no trailer); run files come back
as ``{"path", "size", "digest": true}`` frames, hashed on both ends in the same pass that moves them.
Frames travel on the helper's own channel, with about 100 bytes of overhead per file.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import BinaryIO

CHUNK = 1 << 20


class BoundedReader:
    """Reads at most ``size`` bytes from ``stream`` (a frame's body)."""

    def __init__(self, stream: BinaryIO, size: int):
        self.stream = stream
        self.remaining = size

    def read(self, n: int = -1) -> bytes:
        if self.remaining <= 0:
            return b""
        n = self.remaining if n < 0 else min(n, self.remaining)
        data = self.stream.read(n)
        if not data:
            raise EOFError(f"stream ended with {self.remaining} bytes of a frame missing")
        self.remaining -= len(data)
        return data

    def drain(self) -> None:
        while self.read(CHUNK):
            pass


def write_frame(out, header: dict, path: str, size: int, digest: bool = False) -> int:
    """Write one frame (header, the file's first ``size`` bytes, optional digest trailer); returns bytes."""
    line = (json.dumps({**header, "size": size, "digest": digest}) + "\n").encode()
    out.write(line)
    written = len(line)
    sha = hashlib.sha256()
    with open(path, "rb") as fh:
        left = size
        while left > 0:
            chunk = fh.read(min(CHUNK, left))
            if not chunk:
                raise EOFError(f"{path} shrank while it was being sent")
            if digest:
                sha.update(chunk)
            out.write(chunk)
            left -= len(chunk)
            written += len(chunk)
    if digest:
        trailer = (json.dumps({"sha256": sha.hexdigest()}) + "\n").encode()
        out.write(trailer)
        written += len(trailer)
    return written


def read_frames(stream: BinaryIO, count: int | None = None) -> Iterator[tuple[dict, BoundedReader]]:
    """Yield (header, body reader) per frame (at most ``count``). A body not fully read is skipped; the
    trailer's ``sha256`` is added to the header once the body is done (before the next frame is yielded)."""
    n = 0
    while count is None or n < count:
        line = stream.readline()
        if not line:
            if count is not None:
                raise EOFError(f"stream ended after {n} of {count} frames")
            return
        header = json.loads(line)
        body = BoundedReader(stream, int(header["size"]))
        yield header, body
        body.drain()
        if header.get("digest"):
            header["sha256"] = json.loads(stream.readline())["sha256"]
        n += 1
