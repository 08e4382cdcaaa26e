"""Curated environments: the ``AzureML-…`` names v1 samples pass to ``Environment.get`` (pure data).

A name resolves by family, case-insensitively: ``AzureML-sklearn-1.5`` and
``AzureML-sklearn-1.0-ubuntu20.04-py38-cpu`` are both the scikit-learn family. Each family is one pinned,
current package list that builds on these nodes (the same pins as the templates), not the old versions in
the name; the GPU/CUDA parts of a name do not matter because the pip wheels carry CUDA.
"""

from __future__ import annotations

import difflib
import re

SKLEARN = ["scikit-learn==1.9.*", "joblib>=1.4", "numpy>=2.0", "pandas>=2.2", "matplotlib>=3.9"]
TENSORFLOW = ["tensorflow==2.21.*", "numpy>=2.0", "matplotlib>=3.9"]
PYTORCH = ["torch==2.14.1", "torchvision==0.29.1", "numpy>=2.0", "matplotlib>=3.9"]
MINIMAL: list[str] = []

# (pattern over the lower-cased name, family's requirements); the first match wins
FAMILIES: list[tuple[re.Pattern, list[str]]] = [
    (re.compile(r"^azureml-(sklearn|scikit-learn|tutorial|automl)\b"), SKLEARN),
    (re.compile(r"^azureml-(tensorflow|keras)\b"), TENSORFLOW),
    (re.compile(r"^azureml-(acpt-)?pytorch\b"), PYTORCH),
    (re.compile(r"^azureml-(minimal|basic|responsibleai)\b"), MINIMAL),
]
# Names the v1 samples and docs use; listed by Environment.list and offered as close matches.
NAMES = [
    "AzureML-sklearn-1.5",
    "AzureML-sklearn-1.0-ubuntu20.04-py38-cpu",
    "AzureML-sklearn-0.24-ubuntu18.04-py37-cpu",
    "AzureML-Tutorial",
    "AzureML-tensorflow-2.16-cuda12",
    "AzureML-tensorflow-2.12-cuda11",
    "AzureML-tensorflow-2.4-ubuntu18.04-py37-cuda11-gpu",
    "AzureML-TensorFlow-2.3-CPU",
    "AzureML-TensorFlow-2.3-GPU",
    "AzureML-acpt-pytorch-2.2-cuda12.1",
    "AzureML-ACPT-pytorch-1.13-py38-cuda11.7-gpu",
    "AzureML-pytorch-1.10-ubuntu18.04-py38-cuda11-gpu",
    "AzureML-PyTorch-1.6-GPU",
    "AzureML-Minimal",
    "AzureML-minimal-ubuntu22.04-py39-cpu-inference",
]


def resolve_curated(name: str) -> list[str] | None:
    """The requirements of a curated name, or None when no family matches (pure)."""
    lowered = name.strip().lower()
    for pattern, requirements in FAMILIES:
        if pattern.match(lowered):
            return list(requirements)
    return None


def render_closest(name: str, candidates: list[str], n: int = 5) -> list[str]:
    """The names closest to ``name``, case-insensitively (pure)."""
    by_lower = {c.lower(): c for c in candidates}
    return [by_lower[m] for m in difflib.get_close_matches(name.lower(), list(by_lower), n=n, cutoff=0.4)]
