"""`trainyard gc`: the workspace's unreferenced objects and the local node's environments, blobs and run
directories, with a run in flight; and the free-space floor that refuses an environment build."""

from __future__ import annotations

import json
import time
from pathlib import Path

from tests.conftest import run_cli, write
from tests.e2e.jobs import make_project
from trainyard import Run, Workspace
from trainyard.snapshot import load_manifest

ENV = "environment:\n  requirements: requirements.txt\n"


def project(root: Path, requirements: str) -> Path:
    job = make_project(root, extra=ENV)
    write(root / "requirements.txt", requirements)
    return job


def gc(tmp_path: Path, *args: str) -> dict:
    out = run_cli("gc", "--json", *args, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_workspace_gc_removes_only_unreferenced_objects(tmp_path):
    """gc --dry-run lists an orphan blob and its size; gc removes it and keeps every blob a run references."""
    job = make_project(tmp_path / "p")
    out = run_cli("submit", str(job), "--current-env", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    ws = Workspace.load()
    orphan, _ = ws.objects.add_bytes(b"x" * 100_000)
    dry = gc(tmp_path, "--dry-run", "--grace-hours", "0")
    assert [i["path"] for i in dry["reports"][0]["items"]] == [str(ws.objects.path(orphan))]
    assert dry["bytes"] >= 100_000 and ws.objects.has(orphan)
    assert gc(tmp_path, "--dry-run")["bytes"] == 0  # within the grace period: kept
    gc(tmp_path, "--grace-hours", "0")
    assert not ws.objects.path(orphan).exists()
    snapshot = Run(ws, json.loads(run_cli("runs", "show", "latest", "--json", cwd=tmp_path).stdout)["runId"]
                   ).record["snapshot"]
    assert all(ws.objects.has(e["oid"]) for e in load_manifest(ws.objects, snapshot))


def test_node_gc_never_touches_a_run_in_flight(tmp_path):
    """With a run in flight, node gc removes the idle environment and the pulled run, not the busy ones."""
    done = project(tmp_path / "a", "six==1.16.0\n")
    assert run_cli("submit", str(done), cwd=tmp_path).returncode == 0
    busy = project(tmp_path / "b", "six==1.16.0\nidna\n")
    out = run_cli("submit", str(busy), "--detach", "--set", "inputs.sleep=120", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    busy_id = out.stdout.strip()
    ws = Workspace.load()
    deadline = time.time() + 180
    while Run(ws, busy_id).get_status() != "Running":
        assert time.time() < deadline, Run(ws, busy_id).record
        time.sleep(0.2)
    node_root = tmp_path / "home" / ".trainyard"
    envs_before = {d.name for d in (node_root / "envs").iterdir() if d.is_dir()}
    assert len(envs_before) == 2
    args = ("--compute", "local", "--env-idle-days", "0", "--blob-idle-days", "0")
    dry = gc(tmp_path, "--dry-run", *args)["reports"][1]
    kinds = sorted(i["kind"] for i in dry["items"] if i["kind"] != "blob")
    assert kinds == ["environment", "run"] and dry["bytes"] > 10_000
    assert {d.name for d in (node_root / "envs").iterdir() if d.is_dir()} == envs_before  # dry run
    gc(tmp_path, *args)
    busy_key = Run(ws, busy_id).record["environment"]["key"]
    assert {d.name for d in (node_root / "envs").iterdir() if d.is_dir()} == {busy_key}
    assert [d.name for d in (node_root / "runs").iterdir()] == [busy_id]
    src = node_root / "runs" / busy_id / "src" / "train.py"
    assert src.is_file() and Run(ws, busy_id).get_status() == "Running"
    assert run_cli("runs", "cancel", busy_id, cwd=tmp_path).returncode == 0


def test_free_space_floor_refuses_a_build(tmp_path):
    """A node under its free-space floor refuses to build an environment, saying how to free space."""
    assert run_cli("workspace", "init", cwd=tmp_path).returncode == 0
    config = tmp_path / ".trainyard" / "config.json"
    config.write_text(json.dumps({**json.loads(config.read_text()), "limits": {"min_free_disk_bytes": 10**18}}))
    out = run_cli("submit", str(project(tmp_path / "p", "six==1.16.0\n")), cwd=tmp_path)
    assert out.returncode == 3
    assert "below this node's floor" in out.stderr and "trainyard gc" in out.stderr


def test_gc_purges_secret_blobs_from_the_nodes_too(tmp_path):
    """A secret blob sent to a node before the secret rules (still linked into an old run directory) is
    listed by gc --compute --dry-run and removed by gc --compute, as is the workspace's copy."""
    from trainers.objects import ObjectStore

    job = make_project(tmp_path / "p")
    out = run_cli("submit", str(job), "--current-env", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    secret = b"aws_access_key_id = AKIAIOSFODNN7EXAMPLE\n"
    ws = Workspace.load()
    oid, _ = ws.objects.add_bytes(secret)
    node_store = ObjectStore(Path.home() / ".trainyard" / "objects")
    node_store.add_bytes(secret)
    node_blob = node_store.path(oid)
    run_dir = next((Path.home() / ".trainyard" / "runs").iterdir())
    (run_dir / "src" / "credentials").hardlink_to(node_blob)  # as an old run would have it
    dry = gc(tmp_path, "--compute", "local", "--dry-run")
    node_items = [i for r in dry["reports"][1:] for i in r["items"] if i["kind"] == "secret"]
    assert [i["path"] for i in node_items] == [str(node_blob)] and node_blob.exists()
    gc(tmp_path, "--compute", "local")
    assert not node_blob.exists() and not ws.objects.path(oid).exists()
