"""Benchmarks for the local loop (issue: foundation). Prints figures; asserts nothing.

    python benchmarks/local_overhead.py [--repeat 10] [--packages "scikit-learn==1.9.*"]

1. submit→Completed for a no-op script on a warm environment (Python API and CLI) vs running
   ``python noop.py`` directly with the same interpreter: median of N.
2. environment cache hit: ``ensure_env`` on an environment that is already built.
3. cold environment build (through Trainyard) vs the same ``uv venv`` + ``uv pip install`` by hand, both
   with uv's download cache warm (a fresh environment directory each time).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from timing import median_seconds

from trainers.envbuild import ensure_env
from trainyard import Environment, Experiment, ScriptRunConfig, Workspace
from trainyard.transport import LocalNode

TRAINYARD = str(Path(sys.executable).parent / "trainyard")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--packages", default="scikit-learn==1.9.*", help="requirements for the cold build")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="trainyard-bench-"))
    os.chdir(work)
    (work / "src").mkdir()
    (work / "src" / "noop.py").write_text("pass\n")
    (work / "requirements.txt").write_text("six==1.16.0\n")
    ws = Workspace.embedded(work)
    env = Environment.from_pip_requirements("bench", work / "requirements.txt")
    exp = Experiment(ws, "bench")
    config = ScriptRunConfig("src", "noop.py", environment=env)
    exp.submit(config).wait_for_completion()  # warm the environment
    node = LocalNode()
    env_info = ensure_env(node.root, env.compute_spec(), sys.executable, node.uv_path(), open(os.devnull, "w"))
    python = env_info["python"]

    direct = median_seconds(lambda: subprocess.run([python, "src/noop.py"], check=True), args.repeat)
    api = median_seconds(lambda: exp.submit(config).wait_for_completion(), args.repeat)
    job = work / "job.yml"
    job.write_text("experiment_name: bench\ncode: src\ncommand: python noop.py\n"
                   "environment:\n  requirements: requirements.txt\n")
    cli = median_seconds(lambda: subprocess.run([TRAINYARD, "submit", str(job)], check=True,
                                           capture_output=True), args.repeat)
    cli_direct = median_seconds(lambda: subprocess.run([TRAINYARD, "--version"], check=True, capture_output=True),
                           args.repeat)
    hit = median_seconds(lambda: ensure_env(node.root, env.compute_spec(), sys.executable, node.uv_path(),
                                       open(os.devnull, "w")), args.repeat)

    print(f"repeat={args.repeat} python={sys.version.split()[0]} cpus={os.cpu_count()}")
    print(f"python noop.py directly (warm venv)      median {direct * 1000:7.1f} ms")
    print(f"submit→Completed, Python API              median {api * 1000:7.1f} ms  "
          f"overhead {(api - direct) * 1000:7.1f} ms")
    print(f"trainyard submit (CLI process)            median {cli * 1000:7.1f} ms  "
          f"overhead {(cli - direct) * 1000:7.1f} ms (CLI start-up alone: {cli_direct * 1000:.1f} ms)")
    print(f"environment cache hit (ensure_env)        median {hit * 1000:7.1f} ms")

    reqs = [r.strip() for r in args.packages.split(",")]
    cold_env = Environment("cold")
    cold_env._requirements = reqs
    spec = cold_env.compute_spec()
    root = work / "node"
    t = time.perf_counter()
    ensure_env(root, spec, sys.executable, node.uv_path(), open(os.devnull, "w"))
    ours = time.perf_counter() - t
    uv = node.uv_path()
    by_hand = work / "by-hand"
    t = time.perf_counter()
    subprocess.run([uv, "venv", "--quiet", "--python", sys.executable, str(by_hand)], check=True)
    subprocess.run([uv, "pip", "install", "--quiet", "--python", str(by_hand / "bin" / "python"), *reqs],
                   check=True)
    hand = time.perf_counter() - t
    print(f"cold build of {', '.join(reqs)} (uv cache warm): trainyard {ours:.2f} s vs uv by hand {hand:.2f} s")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
