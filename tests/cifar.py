"""Small files in the real CIFAR-10 python format (pickled dicts, data uint8 (N, 3072), labels)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np


def write_cifar(folder: Path, train: int = 64, test: int = 32, seed: int = 0) -> Path:
    """Write data_batch_1 and test_batch under ``folder/cifar-10-batches-py``; images depend on the label
    (a coloured square), so a small network can learn something."""
    rng = np.random.default_rng(seed)
    out = folder / "cifar-10-batches-py"
    out.mkdir(parents=True, exist_ok=True)
    for name, n in (("data_batch_1", train), ("test_batch", test)):
        labels = rng.integers(0, 10, n)
        images = rng.integers(0, 60, (n, 3, 32, 32), dtype=np.uint8)
        for i, label in enumerate(labels):
            images[i, label % 3, 4 + label * 2: 12 + label * 2, 4:28] = 250
        with open(out / name, "wb") as fh:
            pickle.dump({b"data": images.reshape(n, 3072), b"labels": labels.tolist(),
                         b"batch_label": name.encode()}, fh)
    return out
