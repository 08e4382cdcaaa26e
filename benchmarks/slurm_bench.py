"""Slurm compute benchmarks against a real single-node Slurm cluster on this machine (tests/slurm.py),
reached through a real sshd login node on 127.0.0.1. Same cluster, same run, for each pair.

    python benchmarks/slurm_bench.py [--repeat 5] [--runs 1,10,50]

(a) no-op job submit → Completed (Python API) vs raw `sbatch --wait --wrap 'python3 noop.py'`, and vs
    `sbatch` + polling squeue every 50 ms (the scheduler's own floor);
(b) poll cost against the number of active runs: scheduler calls (squeue, counted by a wrapper on the login
    node's PATH) and wall time for one refresh of every active run (what `trainyard runs list` does).
Prints figures and the SchedulerParameters; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from timing import median_seconds  # noqa: E402

from tests.slurm import SCHEDULER_PARAMETERS, SlurmCluster, slurm_available  # noqa: E402
from tests.sshd import Sshd, keygen, node_entry  # noqa: E402
from trainyard import Experiment, Run, ScriptRunConfig, Workspace  # noqa: E402
from trainyard.transport import close_all, open_node  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--runs", default="1,10,50")
    args = ap.parse_args()
    if not slurm_available():
        sys.exit("Slurm is not installed (apt-get install slurm-wlm munge)")
    work = Path(tempfile.mkdtemp(prefix="trainyard-slurmbench-"))
    os.chdir(work)
    cluster = SlurmCluster(work / "cluster").start()
    key = work / "key"
    (work / "authorized_keys").write_text(keygen(key) + "\n")
    login = Sshd(work / "login", work / "authorized_keys").start()
    try:
        run(args, work, cluster, login, key)
    finally:
        close_all()
        login.stop()
        cluster.stop()


def run(args, work: Path, cluster: SlurmCluster, login: Sshd, key: Path) -> None:
    from uv import find_uv_bin

    bin_dir = work / "bin"
    bin_dir.mkdir()
    calls = work / "squeue.calls"
    (bin_dir / "squeue").write_text(f"#!/bin/sh\necho x >> {calls}\nexec /usr/bin/squeue \"$@\"\n")
    (bin_dir / "squeue").chmod(0o755)
    (bin_dir / "python").symlink_to("/usr/bin/python3")
    (bin_dir / "uv").symlink_to(find_uv_bin())
    env = {**cluster.env, "PATH": f"{bin_dir}:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"}
    compute = {"type": "slurm", "root": str(work / "shared"), "partition": "debug", "env": env,
               "nodes": [node_entry("login", login, key, work / "shared")]}
    (work / ".trainyard").mkdir()
    (work / ".trainyard" / "config.json").write_text(json.dumps(
        {"name": "bench", "root": ".", "computes": {"hpc": compute}}))
    (work / "src").mkdir()
    (work / "src" / "noop.py").write_text("pass\n")
    ws = Workspace.load()
    exp = Experiment(ws, "bench")
    src = ScriptRunConfig(str(work / "src"), "noop.py", compute_target="hpc")

    def trainyard_noop() -> None:
        exp.submit(src).wait_for_completion(raise_on_error=True)

    def sbatch_wait() -> None:
        cluster.command("sbatch", "--wait", "--output=/dev/null", f"--chdir={work / 'src'}", "--wrap", "python3 noop.py")

    def sbatch_poll() -> None:
        job_id = cluster.command("sbatch", "--parsable", "--output=/dev/null", f"--chdir={work / 'src'}",
                                 "--wrap", "python3 noop.py").strip()
        while cluster.command("squeue", "-h", "-t", "all", "-j", job_id, "-o", "%T").strip() != "COMPLETED":
            time.sleep(0.05)

    trainyard_noop()  # warm: connection, helper, run directory layout
    print(f"SchedulerParameters={SCHEDULER_PARAMETERS} (sched/builtin, 4 CPUs declared on one node, 2 real cores)")
    print(f"(a) no-op job submit → Completed, median of {args.repeat}:")
    t = median_seconds(trainyard_noop, args.repeat)
    w = median_seconds(sbatch_wait, args.repeat)
    p = median_seconds(sbatch_poll, args.repeat)
    print(f"    Trainyard (Python API)                  {t * 1000:8.0f} ms   = {t / w:.2f}x sbatch --wait")
    print(f"    raw sbatch --wait --wrap 'python3 noop.py' {w * 1000:5.0f} ms")
    print(f"    raw sbatch + squeue every 50 ms         {p * 1000:8.0f} ms   (Trainyard = {t / p:.2f}x)")

    print("(b) poll cost against active runs (one refresh of every active run, as `runs list` does):")
    blocker = cluster.command("sbatch", "--parsable", f"--cpus-per-task={cluster.cpus}", "--output=/dev/null",
                              "--wrap", "sleep 600").strip()
    node = open_node(ws, "hpc")
    active: list[str] = []
    for n in (int(x) for x in args.runs.split(",")):
        while len(active) < n:
            active.append(exp.submit(src).id)
        time.sleep(node.queue_max_age + 0.1)
        calls.write_text("")
        started = time.perf_counter()
        for run_id in active:
            Run(ws, run_id).refresh()
        elapsed = time.perf_counter() - started
        count = len(calls.read_text().splitlines())
        print(f"    {n:3d} active runs: {count} squeue call(s), {elapsed * 1000:7.0f} ms for the refresh "
              f"({elapsed * 1000 / n:5.1f} ms a run)")
    cluster.command("scancel", blocker)
    for run_id in active:
        Run(ws, run_id).cancel()


if __name__ == "__main__":
    main()
