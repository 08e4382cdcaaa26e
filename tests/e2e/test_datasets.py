"""Datasets: registration by content, URL sources from a real HTTP server, consumption by runs, preview."""

from __future__ import annotations

import functools
import http.server
import json
import shutil
import threading

import pytest

from tests.cifar import write_cifar
from tests.conftest import SHARED, run_cli, write
from trainyard import Dataset, Experiment, ScriptRunConfig, Workspace
from trainyard.errors import DatasetError

READER = r'''
import os, sys
from trainers import Run
run = Run.get_context()
folder = sys.argv[1]
names = sorted(os.listdir(folder))
print("files:", names, flush=True)
run.log("files", len(names))
run.tag("input_datasets", ",".join(f"{k}={v}" for k, v in sorted(run.input_datasets.items())))
run.tag("env", os.environ.get("TRAINYARD_INPUT_MNIST", ""))
'''


class FlakyHandler(http.server.SimpleHTTPRequestHandler):
    """Serves a directory; the first request for any path answers 503 (downloads must retry)."""

    seen: set = set()

    def do_GET(self):  # noqa: N802 - http.server's name
        if self.path not in self.seen:
            self.seen.add(self.path)
            self.send_error(503, "try again")
            return
        super().do_GET()

    def log_message(self, *args):
        pass


@pytest.fixture
def http_server(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    FlakyHandler.seen = set()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(FlakyHandler, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_register_by_content(tmp_path):
    """Same content → same version; other content needs create_new_version; get_by_name and to_path work."""
    ws = Workspace.load()
    write(tmp_path / "d" / "a.txt", "a")
    write(tmp_path / "d" / "sub" / "b.txt", "b")
    v1 = Dataset.File.from_files(str(tmp_path / "d")).register(ws, "toy")
    again = Dataset.File.from_files(str(tmp_path / "d")).register(ws, "toy")
    assert v1.version == again.version == 1 and v1.to_path() == ["a.txt", "sub/b.txt"]
    write(tmp_path / "d" / "a.txt", "changed")
    with pytest.raises(DatasetError, match="create_new_version"):
        Dataset.File.from_files(str(tmp_path / "d")).register(ws, "toy")
    v2 = Dataset.File.from_files(str(tmp_path / "d")).register(ws, "toy", create_new_version=True)
    assert v2.version == 2 and Dataset.get_by_name(ws, "toy").version == 2
    assert Dataset.get_by_name(ws, "toy", 1).download(tmp_path / "out") and \
        (tmp_path / "out" / "a.txt").read_text() == "a"
    with pytest.raises(DatasetError, match="overwrite"):
        Dataset.get_by_name(ws, "toy", 1).download(tmp_path / "out")
    globbed = Dataset.File.from_files(str(tmp_path / "d" / "**" / "*.txt"))
    assert sorted(globbed.to_path()) == ["a.txt", "b.txt"]
    with pytest.raises(DatasetError, match="does not exist"):
        Dataset.File.from_files(str(tmp_path / "nope"))


def test_url_dataset_verified_and_used_by_run(tmp_path, http_server):
    """MNIST served over HTTP: downloaded with retries, md5-verified, registered, consumed by a run."""
    root, base = http_server
    for f in (SHARED / "data" / "mnist").iterdir():
        shutil.copy(f, root / f.name)
    urls = [f"{base}/{f.name}" for f in sorted((SHARED / "data" / "mnist").iterdir())]
    out = run_cli("datasets", "register", "mnist", *urls)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("mnist:1 (4 files")
    ws = Workspace.load()
    ds = Dataset.get_by_name(ws, "mnist")
    write(tmp_path / "src" / "read.py", READER)
    src = ScriptRunConfig("src", "read.py", arguments=[ds.as_named_input("mnist").as_mount()])
    run = Experiment(ws, "data").submit(src)
    run.wait_for_completion()
    assert run.get_metrics()["files"] == 4
    tags = run.get_tags()
    assert tags["input_datasets"].startswith("mnist=") and tags["env"].endswith("/inputs/mnist")
    job = write(tmp_path / "job.yml", "code: src\ncommand: python read.py ${{inputs.d}}\ninputs:\n"
                "  d:\n    type: uri_folder\n    path: dataset:mnist@latest\n")
    assert run_cli("submit", str(job)).returncode == 0


def test_corrupt_download_rejected(http_server):
    """A file whose md5 is known but whose content is wrong is refused; nothing is registered."""
    root, base = http_server
    (root / "t10k-labels-idx1-ubyte.gz").write_bytes(b"not mnist")
    out = run_cli("datasets", "register", "bad", f"{base}/t10k-labels-idx1-ubyte.gz")
    assert out.returncode == 1 and "md5" in out.stderr and "expected ec29112dd5afa0611ce80d1b7f02629c" in out.stderr
    assert run_cli("datasets", "list", "--json").stdout.strip() == "[]"


def test_preview_png_not_blank(tmp_path):
    """preview draws a grid for MNIST and CIFAR-format data: a PNG of sensible size with varied pixels."""
    import numpy as np
    from PIL import Image

    assert run_cli("datasets", "register", "mnist", str(SHARED / "data" / "mnist")).returncode == 0
    assert run_cli("datasets", "register", "cifar", str(write_cifar(tmp_path / "c", 20, 40))).returncode == 0
    for name in ("mnist", "cifar"):
        png = tmp_path / f"{name}.png"
        out = run_cli("datasets", "preview", name, "-o", str(png), "-n", "30")
        assert out.returncode == 0, out.stderr
        image = np.asarray(Image.open(png).convert("L"))
        assert image.shape[0] > 200 and image.shape[1] > 600
        assert image.std() > 20  # not blank
    shown = json.loads(run_cli("datasets", "show", "cifar", "--json").stdout)
    assert shown["paths"] == ["data_batch_1", "test_batch"]


def test_loaders_name_corrupt_files(tmp_path):
    """Truncated MNIST and malformed CIFAR files raise errors naming the file and the expectation."""
    import gzip

    from trainers.datasets import DatasetFormatError, load_cifar10, load_mnist

    for f in (SHARED / "data" / "mnist").iterdir():
        shutil.copy(f, tmp_path / f.name)
    data = gzip.decompress((tmp_path / "t10k-images-idx3-ubyte.gz").read_bytes())
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(data[:5000]))
    with pytest.raises(DatasetFormatError, match="t10k-images-idx3-ubyte.gz: header says .* truncated"):
        load_mnist(tmp_path)
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(b"\x00\x00\x08\x01" + data[4:]))
    with pytest.raises(DatasetFormatError, match="magic number 2049, expected 2051"):
        load_mnist(tmp_path)
    folder = write_cifar(tmp_path / "c")
    import pickle

    (folder / "test_batch").write_bytes(pickle.dumps({b"data": b"x", b"labels": []}))
    with pytest.raises(DatasetFormatError, match="test_batch: 'data' must be uint8 of shape"):
        load_cifar10(folder)
    x_train, y_train, _, _ = load_mnist(SHARED / "data" / "mnist")
    assert x_train.shape == (60000, 28, 28) and y_train[:5].tolist() == [5, 0, 4, 1, 9]
