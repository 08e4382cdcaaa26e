"""Real iris web services for the dashboard's tests: the iris template trained on `local`, then deployed no-code
twice (open and keyed), as tests/e2e/test_services.py does."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO, local_workspace, run_cli
from trainyard import LocalWebservice, Model, Webservice, Workspace

ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]  # setosa, virginica → [0, 2]
OPEN, KEYED = "iris-open", "iris-keyed"


def deploy_iris(base: Path, env: dict) -> Workspace:
    """A workspace at ``base`` (node root inside it) serving sklearn-iris:1 as OPEN and KEYED (auth), both Healthy."""
    local_workspace(base, "uisvc")
    made = subprocess.run([sys.executable, "-m", "scripts.scaffold", "iris-svm", "-o", str(base / "iris")],
                          cwd=REPO, capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    out = run_cli("submit", str(base / "iris" / "job.yml"), "--json", cwd=base, env=env)
    assert out.returncode == 0, out.stderr
    ws = Workspace.from_config(base)
    model = Model(ws, "sklearn-iris")
    Model.deploy(ws, OPEN, [model]).wait_for_deployment()
    Model.deploy(ws, KEYED, [model], deployment_config=LocalWebservice.deploy_configuration(auth_enabled=True)) \
        .wait_for_deployment()
    return ws


def delete_all(ws: Workspace) -> None:
    for service in Webservice.list(ws):
        service.delete()
