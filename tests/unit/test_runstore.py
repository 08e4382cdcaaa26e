"""The file-based run store: ordering and listing."""

from __future__ import annotations

import json

from tests.conftest import run_cli
from trainyard import Workspace


def test_runs_list_filters_before_limiting(tmp_path):
    """`runs list --status Failed -n 2` gives the two newest failed runs, however many newer runs passed."""
    from trainyard.runstore import RunStore, new_record

    store = RunStore(Workspace.load().root)
    for i in range(60):
        run_id = f"exp_{1_700_000_000 + i}_{i:08x}"
        store.create(new_record(run_id, "exp", compute="local", created=1_700_000_000 + i))
        store.set_status(run_id, "Failed" if i in (3, 7, 9) else "Completed", "done")
    out = run_cli("runs", "list", "--status", "Failed", "-n", "2", "--json")
    assert [r["run_id"] for r in json.loads(out.stdout)] == ["exp_1700000009_00000009", "exp_1700000007_00000007"]
    assert [r["run_id"] for r in store.list()][:2] == ["exp_1700000059_0000003b", "exp_1700000058_0000003a"]
