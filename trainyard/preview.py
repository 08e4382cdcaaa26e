"""``trainyard datasets preview``: a grid of random images with their labels, as the tutorial draws before
training. Understands MNIST idx files and CIFAR-10 python batches."""

from __future__ import annotations

import random
from pathlib import Path

from trainers.datasets import (
    CIFAR10_CLASSES,
    DatasetFormatError,
    find_cifar10,
    find_mnist,
    load_cifar10,
    load_mnist,
)

from .errors import DatasetError, TrainyardError


def load_images(folder: Path):
    """(images as HxW or HxWx3 uint8 array, labels, class names or None, format name)."""
    try:
        _, _, x, y = load_mnist(folder)
        return x, y, None, "MNIST"
    except DatasetFormatError as mnist_error:
        try:
            find_cifar10(folder)
        except DatasetFormatError:
            try:
                find_mnist(folder)
            except DatasetFormatError:
                raise DatasetError(f"{folder} holds neither MNIST idx files nor CIFAR-10 batches") from None
            raise DatasetError(str(mnist_error)) from None
    try:
        _, _, x, y = load_cifar10(folder)
    except DatasetFormatError as exc:
        raise DatasetError(str(exc)) from None
    return x.transpose(0, 2, 3, 1), y, CIFAR10_CLASSES, "CIFAR-10"


def render_preview(folder: Path, dest: Path, count: int = 30, seed: int = 0, title: str = "") -> Path:
    try:
        import matplotlib  # start-up time: optional and slow to import, only plots need it

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # start-up time (see above)
    except ImportError as exc:
        raise TrainyardError("preview needs matplotlib: pip install 'trainyard[plot]'") from exc
    images, labels, names, kind = load_images(folder)
    picks = random.Random(seed).sample(range(len(images)), min(count, len(images)))
    cols = min(10, len(picks))
    rows = (len(picks) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.2, rows * 1.4), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, i in zip(axes.flat, picks, strict=False):
        ax.imshow(images[i], cmap="gray" if images[i].ndim == 2 else None)
        label = int(labels[i])
        ax.set_title(names[label] if names else str(label), fontsize=9)
    fig.suptitle(title or f"{kind}: {len(picks)} random test images")
    fig.tight_layout()
    fig.savefig(dest, dpi=100)
    plt.close(fig)
    return dest
