"""The three framework templates end to end on the local compute, with their real environments: scaffold →
submit (small budget) → Completed → registered model that a fresh process loads and uses, and that a no-code
deployment serves from the same environment."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.cifar import write_cifar
from tests.conftest import REPO, SHARED, run_cli
from trainyard import Model, Run, Workspace

LOADERS = {
    "sklearn-mnist": ("import joblib, numpy as np, sys; m = joblib.load(sys.argv[1]); "
                      "print(m.predict(np.zeros((3, 784))).shape)", "(3,)"),
    "keras-mnist": ("import keras, numpy as np, sys; m = keras.models.load_model(sys.argv[1] + '/model.keras'); "
                    "print(m.predict(np.zeros((3, 784), 'float32'), verbose=0).shape)", "(3, 10)"),
    "pytorch-cifar": ("import torch, sys; m = torch.jit.load(sys.argv[1]); "
                      "print(tuple(m(torch.zeros(3, 3, 32, 32)).shape))", "(3, 10)"),
}
BUDGET = {
    "sklearn-mnist": ["--set", "inputs.max_train_samples=1000"],
    "keras-mnist": ["--set", "inputs.max_train_samples=1000", "--set", "inputs.epochs=1"],
    "pytorch-cifar": ["--set", "inputs.epochs=1"],
}
NOCODE_ROWS = {"sklearn-mnist": [[0.0] * 784] * 3, "keras-mnist": [[0.0] * 784] * 3,
               "pytorch-cifar": [[[[0.0] * 32] * 32] * 3] * 3}
METRICS = {"sklearn-mnist": ("accuracy", 0.7), "keras-mnist": ("Final test accuracy", 0.7),
           "pytorch-cifar": ("epoch test accuracy", 0.0)}  # 48 synthetic images: only that it was measured


@pytest.mark.parametrize("template", ["sklearn-mnist", "keras-mnist", "pytorch-cifar"])
def test_template_trains_registers_and_loads(template, tmp_path):
    """Scaffold, train on a small budget, register; a fresh process loads the model and predicts, and a no-code
    deployment of it answers from the training environment."""
    data = SHARED / "data" / "mnist" if "mnist" in template else write_cifar(tmp_path / "cifar", 48, 24).parent
    made = subprocess.run([sys.executable, "-m", "scripts.scaffold", template, "-o", str(tmp_path / "p"),
                           "--set", f"data={data}"], cwd=REPO, capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    out = run_cli("submit", str(tmp_path / "p" / "job.yml"), "--json", *BUDGET[template], timeout=1800)
    assert out.returncode == 0, out.stderr[-3000:]
    details = json.loads(out.stdout)
    metric, floor = METRICS[template]
    assert floor <= details["metrics"][metric] <= 1
    assert "confusion matrix (image)" in details["images"]
    ws = Workspace.load()
    model = Model(ws, details["modelId"].split(":")[0])
    assert model.run_id == details["runId"]
    path = model.download(str(tmp_path / "dl"))
    python = Run(ws, details["runId"]).record["environment"]["python"]
    code, expected = LOADERS[template]
    check = subprocess.run([python, "-c", code, path], capture_output=True, text=True, cwd=tmp_path)
    assert check.stdout.strip().splitlines()[-1] == expected, check.stderr[-2000:]
    service = Model.deploy(ws, f"{template}-svc", [model])  # no-code: the built-in scoring for its framework
    try:
        service.wait_for_deployment(timeout_sec=600)
        assert service.refresh()["environment"]["cache_hit"] is True  # the training environment, no rebuild
        answer = service.run({"data": NOCODE_ROWS[template]})
        assert f"({len(answer)},{'' if template == 'sklearn-mnist' else ' ' + str(len(answer[0]))})" == expected
    finally:
        service.delete()
