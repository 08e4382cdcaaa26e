"""The iris-svm template, scaffolded and run as a user would, with its real environment."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import REPO, run_cli
from trainyard import Model, Run, Workspace


def test_iris_scaffold_submit_register_and_load(tmp_path):
    """Scaffold → submit → Accuracy 0.9737 → sklearn-iris:1, which a fresh process loads and uses."""
    made = subprocess.run([sys.executable, "-m", "scripts.scaffold", "iris-svm", "-o", str(tmp_path / "iris")],
                          cwd=REPO, capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    out = run_cli("submit", str(tmp_path / "iris" / "job.yml"), "--json")
    assert out.returncode == 0, out.stderr
    details = json.loads(out.stdout)
    assert round(details["metrics"]["Accuracy"], 4) == 0.9737
    assert details["metrics"]["Kernel type"] == "linear" and details["modelId"] == "sklearn-iris:1"
    ws = Workspace.load()
    assert "Confusion matrix (image)" in details["images"]
    assert details["metrics"]["Confusion matrix"]["data"]["class_labels"] == ["setosa", "versicolor", "virginica"]
    model_file = Model(ws, "sklearn-iris").download(str(tmp_path / "dl"))
    env = Run(ws, details["runId"]).record["environment"]
    assert env["cache_hit"] is False and env["python"].endswith("/bin/python")
    check = subprocess.run([env["python"], "-c", "import joblib,sys; m = joblib.load(sys.argv[1]); "
                            "print(m.predict([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]).tolist())",
                            model_file], capture_output=True, text=True)
    assert check.stdout.strip() == "[0, 2]", check.stderr
    assert details["metrics"]["train samples"] == 112


def test_iris_quick_run_on_a_subset(tmp_path):
    """--set inputs.max_train_samples=20 trains on 20 samples of the split, still evaluated on all 38."""
    made = subprocess.run([sys.executable, "-m", "scripts.scaffold", "iris-svm", "-o", str(tmp_path / "iris")],
                          cwd=REPO, capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    out = run_cli("submit", str(tmp_path / "iris" / "job.yml"), "--json", "--set", "inputs.max_train_samples=20")
    assert out.returncode == 0, out.stderr
    metrics = json.loads(out.stdout)["metrics"]
    assert metrics["train samples"] == 20 and 0.3 < metrics["Accuracy"] <= 1
