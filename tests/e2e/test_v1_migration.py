"""Issue 12 acceptance on the local compute: a v1 desk script, ported by `trainyard port`, runs the Iris and
MNIST flows end to end with only trainyard.core paths; the training scripts keep `from azureml.core import
Run`, the conda file lists azureml-defaults, and Iris trains in the curated AzureML-sklearn-1.5."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO, SHARED, run_cli
from trainyard import Run, Workspace


def run_desk_flows(tmp_path: Path, compute: str) -> dict:
    """Port the v1 desk script, run it against ``compute``; returns its JSON summary."""
    desk = shutil.copytree(REPO / "tests" / "v1" / "desk", tmp_path / "desk")
    ported = run_cli("port", str(desk / "v1_flows.py"))
    assert ported.returncode == 0, ported.stderr
    assert "from azureml" not in (desk / "v1_flows.py").read_text()
    if not (tmp_path / ".trainyard" / "config.json").exists():
        assert run_cli("workspace", "init", cwd=tmp_path).returncode == 0
    out = subprocess.run([sys.executable, str(desk / "v1_flows.py"), compute, str(SHARED / "data" / "mnist")],
                         cwd=tmp_path, capture_output=True, text=True, timeout=1800)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "Accuracy of SVM classifier on test set: 0.97" in out.stdout  # show_output=True streamed the log
    assert "default\tlocal\tlocal\tlocal" in out.stdout or "ws\tlocal\tlocal\tlocal" in out.stdout
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    assert round(summary["iris"]["Accuracy"], 4) == 0.9737 and summary["iris"]["Kernel type"] == "linear"
    assert summary["iris_model"] == "sklearn-iris:1" and summary["mnist_model"] == "sklearn_mnist:1"
    assert 0.8 < summary["mnist"]["accuracy"] <= 1 and summary["mnist"]["regularization rate"] == 0.5
    assert summary["mnist"]["input is the named dataset"] is True
    assert summary["models"] == ["sklearn-iris", "sklearn_mnist"]
    run_dir = Run(Workspace.from_config(tmp_path), summary["mnist_run"]).run_dir
    build_log = (run_dir / "logs" / "environment_build.log").read_text()
    mentions = [line for line in build_log.splitlines() if "azureml-defaults" in line]
    assert len(mentions) == 1 and mentions[0].startswith("[trainyard] dropped azureml-defaults"), build_log
    assert "azureml" not in (run_dir / "logs" / "environment_packages.txt").read_text()
    return summary


def test_v1_desk_flows_on_local(tmp_path):
    """Iris (curated env) and MNIST (conda file with azureml-defaults) from a ported v1 desk script, locally."""
    run_desk_flows(tmp_path, "local")


TABULAR_SCRIPT = """
import argparse, os
from azureml.core import Run

parser = argparse.ArgumentParser()
parser.add_argument("--scores")
parser.add_argument("--raw")
args = parser.parse_args()
run = Run.get_context()
df = run.input_datasets["scores"].to_pandas_dataframe()
run.log("rows", len(df))
run.log("columns", ",".join(df.columns))
run.log("score sum", float(df["score"].sum()))
run.log("raw files", len(os.listdir(args.raw)))
run.log("arg is the input folder", os.path.samefile(args.scores, str(run.input_datasets["scores"])))
"""


def test_tabular_dataset_and_datastore_path_in_a_job(tmp_path):
    """A registered tabular recipe reaches the job as run.input_datasets[name].to_pandas_dataframe(); a
    datastore path as_mount() arrives as a folder."""
    from trainyard.core import Dataset, Environment, Experiment, ScriptRunConfig

    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.csv").write_text("id,score,note\n1,0.5,x\n2,0.25,y\n3,1.0,z\n")
    (tmp_path / "data" / "b.csv").write_text("id,score,note\n4,2.0,w\n")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "score.py").write_text(TABULAR_SCRIPT)
    ws = Workspace.load()
    store = ws.get_default_datastore()
    store.upload(src_dir=str(tmp_path / "data"), target_path="scores", overwrite=True, show_progress=False)
    scores = Dataset.Tabular.from_delimited_files(path=(store, "scores/*.csv")).drop_columns(["note"])
    scores = scores.take(3).register(workspace=ws, name="scores", create_new_version=True)
    src = ScriptRunConfig(source_directory=str(tmp_path / "src"), script="score.py",
                          arguments=["--scores", scores.as_named_input("scores"),
                                     "--raw", store.path("scores").as_mount()],
                          environment=Environment.get(ws, "AzureML-sklearn-1.5"))
    run = Experiment(ws, "tabular").submit(src)
    run.wait_for_completion(show_output=False)
    assert run.get_metrics() == {"rows": 3, "columns": "id,score", "score sum": 1.75, "raw files": 2,
                                 "arg is the input folder": True}


def test_curated_sklearn_environment_trains_the_iris_template(tmp_path):
    """Environment.get(ws, "AzureML-sklearn-1.5") is all the scaffolded iris-svm template needs."""
    from trainyard.core import Environment, Experiment, ScriptRunConfig

    made = subprocess.run([sys.executable, "-m", "scripts.scaffold", "iris-svm", "-o", str(tmp_path / "iris")],
                          cwd=REPO, capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    ws = Workspace.load()
    src = ScriptRunConfig(source_directory=str(tmp_path / "iris" / "src"), script="train.py",
                          arguments=["--kernel", "linear", "--penalty", 1.0])
    src.run_config.environment = Environment.get(ws, "AzureML-sklearn-1.5")
    run = Experiment(ws, "iris-curated").submit(src)
    run.wait_for_completion(show_output=False)
    assert round(run.get_metrics()["Accuracy"], 4) == 0.9737
    packages = (run.run_dir / "logs" / "environment_packages.txt").read_text()
    assert "scikit-learn==1.9" in packages and "pandas==" in packages
