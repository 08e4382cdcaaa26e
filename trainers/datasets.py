"""Dataset loaders for training scripts: MNIST idx files (gz or raw) and CIFAR-10 python batches.

Standard library at import; numpy is imported when a loader runs (jobs that load data have it). Corrupt
or truncated files raise DatasetFormatError naming the file and what was expected. ``download_mnist``
is real (md5-verified) for machines with a network; CIFAR-10 downloads go through torchvision.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import pickle
import struct
import time
import urllib.request
from pathlib import Path

from .objects import NodeError

MNIST_FILES = {
    "train_images": ("train-images-idx3-ubyte", 2051, "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
    "train_labels": ("train-labels-idx1-ubyte", 2049, "d53e105ee54ea40749a09fcbcd1e9432"),
    "test_images": ("t10k-images-idx3-ubyte", 2051, "9fb629c4189551a2d022fa330f9573f3"),
    "test_labels": ("t10k-labels-idx1-ubyte", 2049, "ec29112dd5afa0611ce80d1b7f02629c"),
}
MNIST_MIRRORS = ["https://ossci-datasets.s3.amazonaws.com/mnist/", "https://storage.googleapis.com/cvdf-datasets/mnist/"]
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
# md5 of files people download by URL, checked whenever a URL ends with one of these names
KNOWN_MD5 = {f"{name}.gz": md5 for name, _, md5 in MNIST_FILES.values()} | {"cifar-10-python.tar.gz": CIFAR10_MD5}


class DatasetFormatError(NodeError):
    pass


# -- MNIST ---------------------------------------------------------------------------------------------
def find_mnist(folder: str | os.PathLike) -> dict[str, Path]:
    """The four MNIST files under ``folder`` (recursive; ``.gz`` or raw); raises if any is missing."""
    folder = Path(folder)
    found = {}
    for key, (name, _, _) in MNIST_FILES.items():
        matches = sorted(folder.rglob(name + ".gz")) or sorted(folder.rglob(name))
        if not matches:
            raise DatasetFormatError(f"{folder} has no {name}[.gz]; point --data-folder at the MNIST files "
                                     "or register them as a dataset")
        found[key] = matches[0]
    return found


def load_idx(path: str | os.PathLike, magic: int):
    """Read one idx file (gz or raw) into a numpy array, checking magic number and size."""
    import numpy as np  # start-up time: the in-job API must load without numpy

    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            data = fh.read()
    except (OSError, EOFError) as exc:
        raise DatasetFormatError(f"{path} cannot be read ({exc}); the file is corrupt or truncated") from None
    if len(data) < 8:
        raise DatasetFormatError(f"{path} is {len(data)} bytes, too short for an idx header")
    found_magic, count = struct.unpack(">II", data[:8])
    if found_magic != magic:
        raise DatasetFormatError(f"{path}: magic number {found_magic}, expected {magic} "
                                 f"({'images' if magic == 2051 else 'labels'} idx file)")
    dims = [count]
    offset = 8
    if magic == 2051:
        dims += list(struct.unpack(">II", data[8:16]))
        offset = 16
    expected = int(np.prod(dims))
    if len(data) - offset != expected:
        raise DatasetFormatError(f"{path}: header says {dims} ({expected} bytes of data) but the file has "
                                 f"{len(data) - offset}; it is truncated or corrupt")
    return np.frombuffer(data, dtype=np.uint8, offset=offset).reshape(dims)


def take_subset(x, y, count: int, seed: int = 0):
    """A random subset of ``count`` samples (all when ``count`` is 0 or too large), reproducible by seed."""
    import numpy as np  # start-up time: the in-job API must load without numpy

    if not count or count >= len(x):
        return x, y
    keep = np.random.default_rng(seed).choice(len(x), count, replace=False)
    return x[keep], y[keep]


def _is_empty(folder: str | os.PathLike) -> bool:
    return not Path(folder).exists() or not any(os.scandir(folder))


def load_mnist(folder: str | os.PathLike, download_if_empty: bool = False):
    """(x_train, y_train, x_test, y_test) as uint8 arrays, images (N, 28, 28). With ``download_if_empty``,
    an empty ``folder`` is filled from the MNIST mirrors first."""
    if download_if_empty and _is_empty(folder):
        print(f"{folder} is empty: downloading MNIST into it", flush=True)
        download_mnist(folder)
    files = find_mnist(folder)
    out = [load_idx(files[k], MNIST_FILES[k][1]) for k in ("train_images", "train_labels", "test_images",
                                                             "test_labels")]
    for images, labels, which in ((out[0], out[1], "train"), (out[2], out[3], "test")):
        if len(images) != len(labels):
            raise DatasetFormatError(f"MNIST {which}: {len(images)} images but {len(labels)} labels")
    return tuple(out)


def download_mnist(folder: str | os.PathLike) -> Path:
    """Download the four MNIST files into ``folder`` (md5-verified, mirrors tried in turn)."""
    folder = Path(folder)
    for name, _, md5 in MNIST_FILES.values():
        dest = folder / f"{name}.gz"
        if dest.is_file() and file_md5(dest) == md5:
            continue
        errors = []
        for mirror in MNIST_MIRRORS:
            try:
                fetch(mirror + dest.name, dest, md5=md5)
                break
            except OSError as exc:
                errors.append(f"{mirror}: {exc}")
        else:
            raise DatasetFormatError(f"could not download {dest.name}: {'; '.join(errors)}")
    return folder


# -- CIFAR-10 ------------------------------------------------------------------------------------------
def _read_batch(path: Path):
    import numpy as np  # start-up time: the in-job API must load without numpy

    try:
        with open(path, "rb") as fh:
            batch = pickle.load(fh, encoding="bytes")
    except (OSError, EOFError, pickle.UnpicklingError, ValueError) as exc:
        raise DatasetFormatError(f"{path} is not a CIFAR-10 python batch ({exc})") from None
    if not isinstance(batch, dict):
        raise DatasetFormatError(f"{path}: expected a pickled dict with 'data' and 'labels'")
    data = batch.get(b"data", batch.get("data"))
    labels = batch.get(b"labels", batch.get("labels"))
    if data is None or labels is None:
        raise DatasetFormatError(f"{path}: expected keys 'data' and 'labels', found {sorted(map(str, batch))}")
    data = np.asarray(data)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise DatasetFormatError(f"{path}: 'data' must be uint8 of shape (N, 3072), got {data.dtype} {data.shape}")
    if len(labels) != len(data):
        raise DatasetFormatError(f"{path}: {len(data)} images but {len(labels)} labels")
    return data.reshape(-1, 3, 32, 32), np.asarray(labels, dtype=np.int64)


def find_cifar10(folder: str | os.PathLike) -> tuple[list[Path], Path]:
    folder = Path(folder)
    roots = sorted({p.parent for p in folder.rglob("test_batch")})
    if not roots:
        raise DatasetFormatError(f"{folder} has no CIFAR-10 python batches (test_batch, data_batch_1..5)")
    train = sorted(roots[0].glob("data_batch_*"))
    if not train:
        raise DatasetFormatError(f"{roots[0]} has test_batch but no data_batch_* files")
    return train, roots[0] / "test_batch"


def load_cifar10(folder: str | os.PathLike):
    """(x_train, y_train, x_test, y_test): images uint8 (N, 3, 32, 32), labels int64."""
    import numpy as np  # start-up time: the in-job API must load without numpy

    train, test = find_cifar10(folder)
    parts = [_read_batch(p) for p in train]
    x_test, y_test = _read_batch(test)
    return (np.concatenate([x for x, _ in parts]), np.concatenate([y for _, y in parts]), x_test, y_test)


# -- downloads -----------------------------------------------------------------------------------------
def file_md5(path: str | os.PathLike) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def fetch(url: str, dest: str | os.PathLike, md5: str | None = None, sha256: str | None = None,
          retries: int = 3, progress=None, timeout: float = 60) -> Path:
    """Download ``url`` to ``dest`` (atomically), verifying a known checksum, retrying with backoff.

    ``progress(done, total)`` is called as bytes arrive. Raises OSError after the last failed attempt.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    md5 = md5 or KNOWN_MD5.get(url.rsplit("/", 1)[-1])
    last: Exception | None = None
    for attempt in range(1, retries + 1):
        tmp = dest.with_name(dest.name + ".download")
        try:
            with urllib.request.urlopen(url, timeout=timeout) as resp, open(tmp, "wb") as out:
                total = int(resp.headers.get("Content-Length") or 0)
                done = 0
                while chunk := resp.read(1 << 20):
                    out.write(chunk)
                    done += len(chunk)
                    if progress:
                        progress(done, total)
            if md5 and file_md5(tmp) != md5:
                raise OSError(f"md5 of {url} is {file_md5(tmp)}, expected {md5}")
            if sha256 and hashlib.sha256(tmp.read_bytes()).hexdigest() != sha256:
                raise OSError(f"sha256 of {url} does not match {sha256}")
            os.replace(tmp, dest)
            return dest
        except OSError as exc:
            last = exc
            Path(tmp).unlink(missing_ok=True)
            if attempt < retries:
                time.sleep(min(2 ** attempt, 10) * 0.25)
    raise OSError(f"downloading {url} failed after {retries} attempts: {last}")

