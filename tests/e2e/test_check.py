"""`trainyard check [--repair]`: verifies the store and removes only what is provably garbage."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from tests.conftest import run_cli, write
from tests.e2e.jobs import make_project
from trainyard import Workspace

OLD = time.time() - 7200


def aged(path: Path) -> Path:
    os.utime(path, (OLD, OLD))
    return path


def check(*args: str) -> tuple[int, dict]:
    out = run_cli("check", "--json", *args)
    return out.returncode, json.loads(out.stdout)


def test_clean_store_passes_and_repair_removes_only_garbage(tmp_path):
    """A store with a run, a model and a dataset passes; injected garbage is found, repaired, and the good
    records still work; young temp files are kept; an unreadable record is reported but never deleted."""
    assert run_cli("submit", str(make_project(tmp_path))).returncode == 0
    write(tmp_path / "data" / "a.txt", "abc")
    assert run_cli("datasets", "register", "d", "data").returncode == 0
    assert check() == (0, {"root": str(Workspace.load().root), "findings": [], "removed": []})
    root = Workspace.load().root
    blob = next(p for p in (root / "objects").glob("??/*") if p.read_bytes() == b"abc")
    blob.chmod(0o644)
    blob.write_bytes(b"abd")  # bit rot
    garbage = {
        aged(write(root / "objects" / "ab" / ".tmp-x1", "half a blob")),
        aged(write(root / "models" / "e2e-model" / "2" / "model.pt", "half a model").parent),
        aged(write(root / "experiments" / "e2e" / "runs" / ".run.json.x.tmp", "{")),
    }
    young = write(root / "objects" / "ab" / ".tmp-x2", "being written now")
    code, report = check()
    kinds = {(f["kind"], f["path"]) for f in report["findings"]}
    assert code == 1 and ("corrupt-object", str(blob)) in kinds
    assert {str(p) for p in garbage} <= {p for _, p in kinds} and ("temp-file", str(young)) in kinds
    code, report = check("--repair")
    assert {f["path"] for f in report["removed"]} == {str(p) for p in garbage} | {str(blob)}
    assert young.exists() and not any(p.exists() for p in garbage)
    assert run_cli("models", "download", "e2e-model", "-o", "m").returncode == 0
    young.unlink()
    code, report = check()  # the corrupt blob was the dataset's: now reported missing, restored by registering again
    assert [(f["kind"], Path(f["path"]).name) for f in report["findings"]] == [("missing-blob", "1")]
    assert run_cli("datasets", "register", "d", "data").returncode == 0
    assert check()[0] == 0
    model_json = root / "models" / "e2e-model" / "1" / "model.json"
    model_json.write_text("{trunc")
    code, report = check("--repair")
    assert code == 1 and [f["kind"] for f in report["findings"]] == ["unreadable-record"] and model_json.exists()


def test_repair_purges_secret_blobs_shipped_before_the_rules(tmp_path):
    """A blob holding a secret (stored before detection existed) is found and purged; the snapshot that named
    it is not then reported as broken."""
    assert run_cli("submit", str(make_project(tmp_path))).returncode == 0
    root = Workspace.load().root
    from trainers.objects import ObjectStore

    oid, _ = ObjectStore(root / "objects").add_bytes(b"-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n")
    code, report = check()
    assert code == 1 and [(f["kind"], f["garbage"]) for f in report["findings"]] == [("secret", True)]
    code, report = check("--repair")
    assert code == 0 and not (root / "objects" / oid[:2] / oid[2:]).exists()
    assert check()[0] == 0


def test_gc_purges_secret_blobs_too(tmp_path):
    """`trainyard gc` removes blobs holding secrets even inside its grace period (dry run lists them first),
    records them as purged, and `check` passes afterwards."""
    assert run_cli("submit", str(make_project(tmp_path))).returncode == 0
    root = Workspace.load().root
    from trainers.objects import ObjectStore

    oid, _ = ObjectStore(root / "objects").add_bytes(b"-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n")
    blob = root / "objects" / oid[:2] / oid[2:]
    dry = json.loads(run_cli("gc", "--dry-run", "--json").stdout)
    assert [i["kind"] for r in dry["reports"] for i in r["items"]] == ["secret"] and blob.exists()
    out = run_cli("gc", "--json")
    assert out.returncode == 0, out.stderr
    assert not blob.exists() and oid in (root / "objects" / ".purged-secrets").read_text()
    assert check()[0] == 0
