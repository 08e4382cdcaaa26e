"""`trainyard gc --compute POOL` over SSH: each node removes the run directories already pulled."""

from __future__ import annotations

import json

from tests.conftest import run_cli
from tests.e2e.jobs import make_project
from trainyard import Run, Workspace


def test_gc_on_an_ssh_pool(pool, tmp_path):
    """After a run completes on the pool, gc --dry-run lists its node directory, gc removes it, on that node only."""
    job = make_project(tmp_path)
    out = run_cli("submit", str(job), "--compute", "pool", "--json")
    assert out.returncode == 0, out.stderr
    details = json.loads(out.stdout)
    node = Run(Workspace.load(), details["runId"]).record["node"]["name"]
    root = dict(zip(("n1", "n2"), pool["roots"], strict=True))[node]
    assert (root / "runs" / details["runId"]).is_dir()
    dry = json.loads(run_cli("gc", "--compute", "pool", "--dry-run", "--json").stdout)
    assert [r["where"] for r in dry["reports"]] == [f"workspace {(tmp_path / '.trainyard').resolve()}", "pool/n1", "pool/n2"]
    runs = [i["path"] for r in dry["reports"] for i in r["items"] if i["kind"] == "run"]
    assert runs == [str(root / "runs" / details["runId"])]
    gone = run_cli("gc", "--compute", "pool")
    assert gone.returncode == 0, gone.stderr
    assert not (root / "runs" / details["runId"]).exists()
