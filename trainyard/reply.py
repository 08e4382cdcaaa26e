"""Answers from nodes are untrusted input: each is checked for shape before the control plane uses it.

A malformed answer (wrong types, bad base64, a log name that would leave the run directory) is a
``TransferError`` naming the verb and what was wrong, never a crash or a write outside the run.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from trainers.status import STATUSES

from .errors import TransferError

LOST = "Lost"  # the node has no such run (its state in a poll answer)


def _bad(verb: str, what: str) -> TransferError:
    return TransferError(f"the node sent a malformed {verb!r} answer ({what}); its helper may be damaged or "
                         "a different version; `trainyard compute status` shows the node")


def is_safe_rel(rel: Any) -> bool:
    """A relative POSIX path with no empty, '.' or '..' part, no backslash and no control characters."""
    if not isinstance(rel, str) or not rel or rel.startswith("/") or "\\" in rel or not rel.isprintable():
        return False
    return all(part not in ("", ".", "..") for part in rel.split("/"))


def check_poll(answer: Any) -> tuple[dict, dict[str, bytes]]:
    """(the status fields, decoded log chunks by node log name) of a ``poll`` answer."""
    if not isinstance(answer, dict):
        raise _bad("poll", f"a {type(answer).__name__}, not an object")
    state = answer.get("state")
    if state not in STATUSES and state != LOST:
        raise _bad("poll", f"unknown state {str(state)[:40]!r}")
    if not isinstance(answer.get("reason"), (str, type(None))):
        raise _bad("poll", "the reason is not text")
    for key in ("started", "ended"):
        if answer.get(key) is not None and (not isinstance(answer[key], (int, float)) or isinstance(answer[key], bool)):
            raise _bad("poll", f"{key!r} is not a time")
    raw = answer.get("chunks") or {}
    if not isinstance(raw, dict):
        raise _bad("poll", "chunks is not an object")
    chunks = {}
    for rel, b64 in raw.items():
        if not is_safe_rel(rel):
            raise _bad("poll", f"log name {str(rel)[:60]!r} would leave the run's logs")
        try:
            chunks[rel] = base64.b64decode(b64, validate=True)
        except (binascii.Error, TypeError, ValueError):
            raise _bad("poll", f"the bytes of {rel!r} are not base64") from None
    return answer, chunks


def check_list_files(answer: Any) -> list[dict]:
    """The entries of a ``list_files`` answer (each an object; the paths are judged by ``check_entry``)."""
    entries = answer.get("entries") if isinstance(answer, dict) else None
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise _bad("list_files", "entries is not a list of objects")
    for e in entries:
        if not isinstance(e.get("path"), str) or not isinstance(e.get("size", 0), int):
            raise _bad("list_files", "an entry without a text path or an integer size")
    return entries
