"""``Model.get_model_path`` inside a job or a scoring script (Azure ML v1 name), standard library only.

v1 looks under ``AZUREML_MODEL_DIR`` (set for deployments) and otherwise finds the registered model; here a
job gets a model as an input, so the path is looked for in, in order: ``$AZUREML_MODEL_DIR`` /
``$TRAINYARD_MODEL_DIR`` (``<dir>/<name>/<version>``, ``<dir>/<name>``, ``<dir>``; a folder holding one
entry gives that entry, as in v1), then a run input named like the model.
"""

from __future__ import annotations

import json
import os
from pathlib import Path


class Model:
    @staticmethod
    def get_model_path(model_name: str, version: int | None = None, _workspace: object = None) -> str:
        tried = []
        for var in ("AZUREML_MODEL_DIR", "TRAINYARD_MODEL_DIR"):
            base = Path(os.environ[var]) if os.environ.get(var) else None
            if base is None:
                continue
            for c in ([base / model_name / str(version)] if version is not None else []) + [base / model_name, base]:
                tried.append(str(c))
                if c.exists():
                    while _single_entry(c) is not None:  # name/ → version/ → the one file, as v1 gives
                        c = _single_entry(c)
                    return str(c)
        inputs = json.loads(os.environ.get("TRAINYARD_INPUTS") or "{}")
        if model_name in inputs:
            return inputs[model_name]
        raise FileNotFoundError(
            f"model {model_name!r} is not available to this job (looked in {', '.join(tried) or 'no model dir'} "
            f"and the run inputs {sorted(inputs)}); give the job the model as an input named {model_name!r} "
            "(job.yml `inputs`, or a path in the arguments) or set AZUREML_MODEL_DIR")


def _single_entry(directory: Path) -> Path | None:
    """The only file or folder in ``directory`` (v1 returns it directly), else None."""
    if not directory.is_dir():
        return None
    try:
        entries = [p for p in directory.iterdir() if not p.name.startswith(".")]
    except OSError:
        return None
    return entries[0] if len(entries) == 1 else None
