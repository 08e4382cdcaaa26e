"""HyperDrive on a 2-node SSH pool (real sshd): children go through the pool's queue."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO
from tests.e2e.sweeps import children_of
from tests.e2e.test_sweeps import check_iris_sweep, iris_sweep_config
from trainyard import Experiment, Workspace


def test_v1_hyperdrive_flow_on_iris_over_a_two_node_pool(pool, tmp_path):
    """The v1 flow on a 2-node pool: 12 children over both nodes, at most 4 in flight, best model registers."""
    made = subprocess.run([sys.executable, "-m", "scripts.scaffold", "iris-svm", "-o", str(tmp_path / "iris")],
                          cwd=REPO, capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    ws = Workspace.load()
    hd = Experiment(ws, "iris-pool").submit(iris_sweep_config(tmp_path / "iris", compute="pool"))
    hd.wait_for_completion(show_output=True, out=open(tmp_path / "out.txt", "w"))
    check_iris_sweep(ws, hd)
    nodes = {c["node"]["name"] for c in children_of(ws, hd.id)}
    assert nodes == {"n1", "n2"}
