"""Environment build time per template, cold and warm. Prints figures; asserts nothing.

    python benchmarks/template_envs.py [--templates iris-svm,sklearn-mnist,keras-mnist,pytorch-cifar]

cold = a node whose environment cache is empty (a fresh node root), with uv's download cache as it is on
this machine (warm after the first install ever; the first download of torch/TensorFlow is reported by
`--no-uv-cache`, which points uv at an empty cache); warm = the same spec again (a cache hit).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from trainers.envbuild import ensure_env  # noqa: E402
from trainyard import Environment  # noqa: E402
from trainyard.transport import LocalNode  # noqa: E402

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--templates", default="iris-svm,sklearn-mnist,keras-mnist,pytorch-cifar")
    ap.add_argument("--no-uv-cache", action="store_true", help="cold includes downloads (empty uv cache)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="trainyard-envbench-"))
    if args.no_uv_cache:
        os.environ["UV_CACHE_DIR"] = str(work / "uv-cache")
    uv = LocalNode().uv_path()
    print(f"{'template':16} {'packages':>8} {'cold':>9} {'warm':>9}")
    for name in args.templates.split(","):
        env = Environment.from_conda_specification(name, TEMPLATES / name / "environment.yml")
        root = work / name
        with open(os.devnull, "w") as log:
            t = time.perf_counter()
            info = ensure_env(root, env.compute_spec(), sys.executable, uv, log)
            cold = time.perf_counter() - t
            t = time.perf_counter()
            ensure_env(root, env.compute_spec(), sys.executable, uv, log)
            warm = time.perf_counter() - t
        print(f"{name:16} {len(info['freeze']):>8} {cold:>8.1f}s {warm * 1000:>7.1f}ms", flush=True)
        shutil.rmtree(root, ignore_errors=True)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
