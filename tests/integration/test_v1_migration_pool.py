"""Issue 12 acceptance on an SSH pool (real sshd): the ported v1 desk script's Iris and MNIST flows; the
node runs the unchanged `from azureml.core import Run` scripts with the shim shipped in the helper."""

from __future__ import annotations

from tests.e2e.test_v1_migration import run_desk_flows
from tests.integration.conftest import set_config


def test_v1_desk_flows_on_pool(pool, tmp_path):
    """Iris and MNIST from the ported v1 desk script on a one-node SSH pool; the shim reached the node."""
    cfg = pool["config"]
    cfg["computes"]["pool"]["nodes"] = cfg["computes"]["pool"]["nodes"][:1]
    set_config(tmp_path, cfg)
    summary = run_desk_flows(tmp_path, "pool")
    assert summary["mnist"]["accuracy"] > 0.8
    shims = list((pool["roots"][0] / "helper").glob("*/trainers/compat/azureml/core/run.py"))
    assert len(shims) == 1
