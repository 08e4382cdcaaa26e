"""HyperDrive sweep benchmarks (issue 13). Prints figures side by side with the reference; asserts nothing.

    python benchmarks/sweep_bench.py [--trials 100] [--repeat 10] [--pool-trials 12] [--trial-seconds 5]

(a) 100 no-op trials, max_concurrent_runs=4, on `local`: the sweep's wall time against
    100 × (one no-op submit → Completed) / 4 (goal ≤ 1.2×);
(b) slot utilisation with 5-second trials on a 2-node SSH pool (one slot per node, real sshd on 127.0.0.1):
    busy slot-seconds (each child's Running → end on its node) over 2 × the sweep's span (goal ≥ 90 %);
(c) from the metric value that dooms a child (Bandit) to its cancel request, and to its process ending on
    the node (goal ≤ 1 s).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from timing import median_seconds  # noqa: E402

from tests.e2e.sweeps import TRIAL_SCRIPT, children_of  # noqa: E402
from tests.sshd import Sshd, keygen, node_entry, sshd_available  # noqa: E402
from trainers._atomic import read_json  # noqa: E402
from trainyard import (  # noqa: E402
    BanditPolicy,
    Experiment,
    GridParameterSampling,
    HyperDriveConfig,
    ScriptRunConfig,
    Workspace,
    choice,
    randint,
)
from trainyard.metrics import load_records  # noqa: E402
from trainyard.runstore import RunStore  # noqa: E402
from trainyard.sampling import RandomParameterSampling  # noqa: E402


def workspace(work: Path, computes: dict | None = None) -> Workspace:
    (work / "src").mkdir(parents=True, exist_ok=True)
    (work / "src" / "trial.py").write_text(TRIAL_SCRIPT)
    if computes:
        (work / ".trainyard").mkdir(exist_ok=True)
        (work / ".trainyard" / "config.json").write_text(json.dumps({"name": "bench", "root": ".",
                                                                    "computes": computes}))
    os.chdir(work)
    return Workspace.load()


def sweep(ws: Workspace, experiment: str, src: ScriptRunConfig, sampling, total: int, concurrent: int,
          policy=None):
    started = time.perf_counter()
    hd = Experiment(ws, experiment).submit(HyperDriveConfig(
        run_config=src, hyperparameter_sampling=sampling, primary_metric_name="score",
        primary_metric_goal="MAXIMIZE", max_total_runs=total, max_concurrent_runs=concurrent, policy=policy))
    hd.wait_for_completion(raise_on_error=False)
    return hd, time.perf_counter() - started


def bench_local(work: Path, trials: int, repeat: int) -> None:
    ws = workspace(work)
    src = ScriptRunConfig("src", "trial.py")
    exp = Experiment(ws, "single")
    exp.submit(src).wait_for_completion()  # warm up
    single = median_seconds(lambda: exp.submit(src).wait_for_completion(), repeat)
    sampling = RandomParameterSampling({"--x": randint(1_000_000)}, seed=1)
    hd, total = sweep(ws, "noop-sweep", src, sampling, trials, 4)
    children = children_of(ws, hd.id)
    started = time.perf_counter()  # what the machine allows: 4 clients each submitting and waiting, no sweep
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda _: exp.submit(src).wait_for_completion(), range(trials)))
    parallel = time.perf_counter() - started
    reference = trials * single / 4
    print(f"(a) {trials} no-op trials, 4 at a time, local: sweep {total:6.2f} s  vs  {trials} × single submit "
          f"{single * 1000:.0f} ms / 4 = {reference:6.2f} s  →  {total / reference:.2f}× (goal ≤ 1.2×); "
          f"{sum(c['status'] == 'Completed' for c in children)}/{len(children)} Completed\n"
          f"    the same {trials} runs from 4 parallel clients (no sweep): {parallel:6.2f} s  →  sweep "
          f"{total / parallel:.2f}× that")


def node_times(root: Path, run_id: str) -> tuple[float, float]:
    """When the job started running and ended, from the node's own status.json."""
    status = read_json(root / "runs" / run_id / "status.json")
    running = next(h["time"] for h in status["history"] if h["state"] == "Running")
    return running, status["ended"]


def bench_pool(work: Path, trials: int, seconds: float) -> None:
    if not sshd_available():
        print("(b) skipped: sshd is not installed (apt-get install openssh-server)")
        return
    work.mkdir(parents=True, exist_ok=True)
    key = work / "key"
    (work / "authorized_keys").write_text(keygen(key) + "\n")
    servers = [Sshd(work / f"sshd{i}", work / "authorized_keys").start() for i in (1, 2)]
    roots = [work / "node1", work / "node2"]
    try:
        ws = workspace(work, {"pool": {"type": "ssh", "nodes": [
            node_entry(f"n{i + 1}", s, key, roots[i], slots=1) for i, s in enumerate(servers)]}})
        src = ScriptRunConfig("src", "trial.py", arguments=["--sleep", seconds], compute_target="pool")
        Experiment(ws, "warm").submit(src).wait_for_completion()
        for concurrent in (2, 4):
            sampling = RandomParameterSampling({"--x": randint(1_000_000)}, seed=concurrent)
            hd, total = sweep(ws, f"pool-{concurrent}", src, sampling, trials, concurrent)
            spans, per_node = [], Counter()
            for child in children_of(ws, hd.id):
                root = roots[int(child["node"]["name"][1:]) - 1]
                spans.append(node_times(root, child["run_id"]))
                per_node[child["node"]["name"]] += 1
            first, last = min(s for s, _ in spans), max(e for _, e in spans)
            busy = sum(e - s for s, e in spans)
            print(f"(b) {trials} trials of {seconds:g} s on 2 one-slot nodes, max_concurrent_runs={concurrent}: "
                  f"utilisation {busy / (2 * (last - first)):.1%} (busy {busy:.1f} slot-s over 2 × "
                  f"{last - first:.1f} s; goal ≥ 90 %); sweep wall time {total:.1f} s vs ideal "
                  f"{trials * seconds / 2:.1f} s; children per node {dict(sorted(per_node.items()))}")
    finally:
        from trainyard.transport import close_all

        close_all()
        for s in servers:
            s.stop()


def bench_doom(work: Path) -> None:
    ws = workspace(work)
    src = ScriptRunConfig("src", "trial.py", arguments=["--steps", 100, "--sleep", 0.05])
    sampling = GridParameterSampling({"--quality": choice("good", "bad"), "--x": choice(1.0, 1.01, 1.02)})
    hd, _ = sweep(ws, "doom", src, sampling, 6, 6, BanditPolicy(slack_factor=0.1))
    store = RunStore(ws.root)
    good, bad = [], []
    for child in children_of(ws, hd.id):
        records = [r for r in load_records(store.run_dir(child["run_id"]) / "metrics.jsonl")
                   if r.get("name") == "score"]
        (bad if child["hyperparameters"]["--quality"] == "bad" else good).append((child, records))
    to_request, to_end = [], []
    for child, records in bad:
        if child["status"] != "Canceled":
            continue
        k = int(child["properties"]["early_termination_interval"])
        # doomed once its k-th value and some good child's k-th value both exist
        doomed = max(records[k - 1]["time"], min(r[k - 1]["time"] for _, r in good if len(r) >= k))
        requested = next(h["time"] for h in child["history"] if h["status"] == "CancelRequested")
        node = read_json(Path.home() / ".trainyard" / "runs" / child["run_id"] / "status.json")
        to_request.append(requested - doomed)
        to_end.append(node["ended"] - doomed)
    if not to_request:
        print("(c) no child was canceled")
        return
    print(f"(c) doomed metric → cancel requested: median {statistics.median(to_request) * 1000:.0f} ms, "
          f"max {max(to_request) * 1000:.0f} ms; → job ended on the node: median "
          f"{statistics.median(to_end) * 1000:.0f} ms, max {max(to_end) * 1000:.0f} ms "
          f"({len(to_request)} children; goal ≤ 1 s)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--pool-trials", type=int, default=12)
    ap.add_argument("--trial-seconds", type=float, default=5.0)
    ap.add_argument("--parts", default="a,b,c", help="which of the three to run (comma-separated)")
    args = ap.parse_args()
    parts = set(args.parts.split(","))
    base = Path(tempfile.mkdtemp(prefix="trainyard-sweepbench-"))
    os.environ["HOME"] = str(base / "home")  # the local node's root (~/.trainyard) starts empty
    print(f"python={sys.version.split()[0]} cpus={os.cpu_count()} work={base}")
    if "a" in parts:
        bench_local(base / "local", args.trials, args.repeat)
    if "b" in parts:
        bench_pool(base / "pool", args.pool_trials, args.trial_seconds)
    if "c" in parts:
        bench_doom(base / "doom")


if __name__ == "__main__":
    main()
