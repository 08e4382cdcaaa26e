"""No-code deployment of every framework the built-in scoring script knows besides scikit-learn (which the
iris tests cover): a Keras file, a TorchScript file and an ONNX file, each registered with its
``model_framework`` and no lineage, so the service's environment comes from the framework and
``model_framework_version``. Each model is made in its own uv venv; its predictions there are the expected
answer of the deployed service."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from uv import find_uv_bin

from tests.conftest import local_workspace
from trainyard import Model, Webservice, Workspace
from trainyard.service import load_service

ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]

KERAS = '''
import json, sys, keras, numpy as np
keras.utils.set_random_seed(7)
m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
                      keras.layers.Dense(3, activation="softmax")])
m.save(sys.argv[1] + "/model.keras")
print(json.dumps(m.predict(np.asarray(json.loads(sys.argv[2]), "float32"), verbose=0).tolist()))
'''
TORCHSCRIPT = '''
import json, sys, torch
torch.manual_seed(7)
m = torch.jit.script(torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3)).eval())
m.save(sys.argv[1] + "/model.pt")
with torch.no_grad():
    print(json.dumps(m(torch.tensor(json.loads(sys.argv[2]), dtype=torch.float32)).tolist()))
'''
ONNX = '''
import json, sys, numpy as np, onnx
from onnx import TensorProto, helper, numpy_helper
w = np.random.default_rng(7).normal(size=(4, 3)).astype("float32")
b = np.array([0.1, -0.2, 0.3], "float32")
graph = helper.make_graph(
    [helper.make_node("MatMul", ["x", "w"], ["xw"]), helper.make_node("Add", ["xw", "b"], ["y"])], "linear",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 4])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 3])],
    [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
onnx.checker.check_model(model)
onnx.save(model, sys.argv[1] + "/model.onnx")
print(json.dumps((np.asarray(json.loads(sys.argv[2]), "float32") @ w + b).tolist()))
'''
CASES = {  # framework, its version (as a notebook would give it), the maker's packages and script
    "keras": (Model.Framework.TFKERAS, "2.21", ["tensorflow==2.21.*"], KERAS),
    "torchscript": (Model.Framework.PYTORCH, "2.14.1", ["torch==2.14.1", "numpy"], TORCHSCRIPT),
    "onnx": (Model.Framework.ONNX, None, ["onnx", "numpy"], ONNX),
}


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    ws = Workspace.from_config(local_workspace(tmp_path_factory.mktemp("nocode"), "nocode"))
    yield ws
    for service in Webservice.list(ws):
        service.delete()


def make_model(tmp_path: Path, packages: list[str], script: str) -> tuple[Path, list]:
    """Run ``script`` in a fresh uv venv holding ``packages``: the model file it saves, and its predictions."""
    uv, venv = find_uv_bin(), tmp_path / "maker"
    subprocess.run([uv, "venv", "-q", "--python", shutil.which("python3") or sys.executable, str(venv)], check=True)
    subprocess.run([uv, "pip", "install", "-q", "--python", str(venv / "bin" / "python"), *packages], check=True)
    out = tmp_path / "model"
    out.mkdir()
    made = subprocess.run([str(venv / "bin" / "python"), "-c", script, str(out), json.dumps(ROWS)],
                          capture_output=True, text=True)
    assert made.returncode == 0, made.stderr[-3000:]
    (model_file,) = out.iterdir()
    return model_file, json.loads(made.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("case", list(CASES))
def test_nocode_deploy_of_a_framework_file_answers_like_the_model(ws, tmp_path, case):
    framework, version, packages, script = CASES[case]
    model_file, expected = make_model(tmp_path, packages, script)
    model = Model.register(ws, model_file, f"nocode-{case}", model_framework=framework,
                           model_framework_version=version)
    service = Model.deploy(ws, f"nocode-{case}", [model])
    service.wait_for_deployment()
    try:
        assert service.state == "Healthy", service.get_logs()
        answer = service.run({"data": ROWS})
        assert len(answer) == len(expected) == 2
        for got, want in zip(answer, expected, strict=True):
            assert got == pytest.approx(want, rel=1e-4, abs=1e-5), (case, answer, expected)
        requirements = load_service(ws, service.name)["environment"]["spec"]["requirements"]
        assert any(r.startswith({"keras": "tensorflow==2.21", "torchscript": "torch==2.14.1",
                                 "onnx": "onnxruntime"}[case]) for r in requirements), requirements
    finally:
        service.delete()
