"""The content-addressed store: sealed objects, and what happens when something writes to one."""

from __future__ import annotations

import os

from trainers.objects import SEALED_NS, ObjectStore


def test_object_written_through_a_link_is_dropped_and_restored(tmp_path):
    """A write through a hard link (as a root job can) unseals the object: queries only report it, repair()
    drops it, add stores it anew."""
    store = ObjectStore(tmp_path / "o")
    oid, is_new = store.add_bytes(b"weights v1")
    assert is_new and store.has(oid) and store.path(oid).stat().st_mtime_ns == SEALED_NS
    linked = tmp_path / "run" / "model.bin"
    linked.parent.mkdir()
    os.link(store.path(oid), linked)
    os.chmod(linked, 0o644)  # what root needs no chmod for
    with open(linked, "ab") as fh:
        fh.write(b" tampered")
    assert store.has(oid) and not store.is_intact(oid)  # queries change nothing
    assert not store.repair(oid) and not store.path(oid).exists()
    assert linked.read_bytes() == b"weights v1 tampered"  # the run keeps what it wrote
    assert store.add_bytes(b"weights v1") == (oid, True)
    assert store.path(oid).read_bytes() == b"weights v1"


def test_unsealed_intact_object_is_kept_and_sealed(tmp_path):
    """An intact object with another mtime (stored before sealing) is re-hashed once, kept and sealed."""
    store = ObjectStore(tmp_path / "o")
    oid, _ = store.add_bytes(b"data")
    os.utime(store.path(oid), (1_700_000_000, 1_700_000_000))
    assert store.is_intact(oid) and store.path(oid).stat().st_mtime_ns != SEALED_NS  # a query: no change
    assert store.repair(oid) and store.path(oid).stat().st_mtime_ns == SEALED_NS
    assert store.add_bytes(b"data") == (oid, False)
