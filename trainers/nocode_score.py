"""The built-in entry script of a no-code deployment (a model deployed without an InferenceConfig).

``init()`` loads the one registered model under ``AZUREML_MODEL_DIR`` by its framework
(``TRAINYARD_MODEL_FRAMEWORK``): ScikitLearn (joblib/pickle), TfKeras/TensorFlow (a Keras file or folder),
PyTorch (TorchScript), Onnx (onnxruntime). ``run(raw_data)`` takes ``{"data": [[...], ...]}`` and returns
the predictions as a list.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

model = None
predict = None


def model_path() -> Path:
    base = Path(os.environ["AZUREML_MODEL_DIR"])
    entries = sorted(p for p in base.iterdir() if not p.name.startswith("."))
    if len(entries) != 1:
        raise RuntimeError(f"a no-code deployment serves one model file or folder; {base} holds "
                           f"{[p.name for p in entries]}. Deploy with an InferenceConfig and a score.py instead")
    return entries[0]


def init() -> None:
    global model, predict
    framework = os.environ.get("TRAINYARD_MODEL_FRAMEWORK", "").lower()
    path = model_path()
    if path.is_dir() and len(inside := [p for p in path.iterdir() if p.is_file()]) == 1:
        path = inside[0]  # a folder holding one file (keras-mnist registers outputs/model/model.keras)
    if framework == "scikitlearn":
        import joblib  # start-up time: only the model's framework is imported (and installed)

        model = joblib.load(path)
        predict = model.predict
    elif framework in ("tfkeras", "tensorflow"):
        import keras  # start-up time: only the model's framework is imported (and installed)
        import numpy as np  # start-up time: with the framework

        model = keras.models.load_model(path)
        predict = lambda rows: model.predict(np.asarray(rows, dtype="float32"), verbose=0)  # noqa: E731
    elif framework == "pytorch":
        import torch  # start-up time: only the model's framework is imported (and installed)

        model = torch.jit.load(str(path), map_location="cpu")
        model.eval()

        def predict(rows):
            with torch.no_grad():
                return model(torch.tensor(rows, dtype=torch.float32)).numpy()
    elif framework == "onnx":
        import numpy as np  # start-up time: only the model's framework is imported (and installed)
        import onnxruntime  # start-up time: only the model's framework is imported (and installed)

        model = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        name = model.get_inputs()[0].name
        predict = lambda rows: model.run(None, {name: np.asarray(rows, dtype="float32")})[0]  # noqa: E731
    else:
        raise RuntimeError(f"no built-in scoring for model framework {framework or 'Custom'!r}; deploy it with "
                           "an InferenceConfig(entry_script='score.py', environment=...)")


def run(raw_data: str):
    data = json.loads(raw_data)
    rows = data.get("data") if isinstance(data, dict) else data
    if not isinstance(rows, list):
        raise ValueError('send {"data": [[feature, ...], ...]}: a list of rows')
    result = predict(rows)
    return result.tolist() if hasattr(result, "tolist") else list(result)
