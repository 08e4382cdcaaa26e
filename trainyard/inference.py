"""What a web service runs (Azure ML v1 ``InferenceConfig``), and the environment of a no-code deployment.

A model deployed without an entry script gets the built-in one (``trainers/nocode_score.py``). Its
environment is the one the model was trained in when the registry knows it (so a node that trained the
model serves it from the same cached environment, with no build), else one made from the model's
framework and ``model_framework_version``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .environment import Environment
from .errors import WebserviceException

NOCODE_FRAMEWORKS = {
    "ScikitLearn": ("scikit-learn", ["joblib"]),
    "TfKeras": ("tensorflow", []),
    "TensorFlow": ("tensorflow", []),
    "PyTorch": ("torch", ["numpy"]),
    "Onnx": ("onnxruntime", ["numpy"]),
}


class InferenceConfig:
    """``InferenceConfig(entry_script, source_directory=None, environment=None)`` as in v1.

    ``entry_script`` is relative to ``source_directory`` when that is given; without it, the script's own
    folder is the source directory."""

    def __init__(self, entry_script: str | os.PathLike, source_directory: str | os.PathLike | None = None,
                 environment: Environment | None = None, runtime: str | None = None,
                 conda_file: str | None = None, **_unused: Any):
        if source_directory is None:
            path = Path(entry_script)
            source_directory, entry_script = path.parent, path.name
        self.source_directory = Path(source_directory)
        self.entry_script = Path(entry_script).as_posix()
        self.environment = environment
        if environment is None and conda_file:
            self.environment = Environment.from_conda_specification("inference", self.source_directory / conda_file)

    def validate(self) -> None:
        script = self.source_directory / self.entry_script
        if not script.is_file():
            raise WebserviceException(f"entry script {script} does not exist; pass the score.py path (relative to "
                                      "source_directory when you give one)")

    def __repr__(self) -> str:
        return f"InferenceConfig(entry_script={self.entry_script!r}, source_directory={str(self.source_directory)!r})"


def render_framework_requirements(framework: str | None, version: str | None) -> list[str]:
    """The packages a no-code deployment of ``framework`` needs (pure)."""
    if framework not in NOCODE_FRAMEWORKS:
        raise WebserviceException(
            f"a model of framework {framework or 'Custom'!r} cannot be deployed without code; no-code deployment "
            f"knows {', '.join(NOCODE_FRAMEWORKS)}. Pass inference_config=InferenceConfig(entry_script="
            "'score.py', environment=env) (CLI: --entry-script score.py --environment NAME)")
    package, extra = NOCODE_FRAMEWORKS[framework]
    if version:
        version = str(version)
        package += f"=={version}" if version.count(".") >= 2 else f"=={version}.*"
    return [package, *extra]


def compute_model_environment_spec(record: dict) -> dict:
    """The environment a model (its registry record) is served in by default: its training environment,
    else its framework's (pure)."""
    trained = ((record.get("lineage") or {}).get("environment") or {}).get("spec")
    if trained and trained.get("kind") == "venv":
        return trained
    return {"kind": "venv", "python": None, "image": None,
            "requirements": sorted(render_framework_requirements(record.get("framework"),
                                                                 record.get("framework_version")), key=str.lower)}
