"""SSH pool benchmarks against a real OpenSSH sshd on 127.0.0.1 (same run, same sshd for each pair).

    python benchmarks/ssh_bench.py [--repeat 10] [--mb 100] [--files 2000]

(a) warm submit→Completed for a no-op job (Python API; CLI connecting directly, as before connection
    holders; CLI through the connection holder) vs `ssh -i KEY host python3 noop.py`;
(b) bytes sent re-submitting an MB/files tree after changing one file;
(c) first-sync throughput (the blobs the node lacks, one framed stream on the helper channel) vs `scp -r` of the same tree;
(d) outputs pull throughput vs `scp -r` of the same outputs.
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from timing import median_seconds  # noqa: E402

from tests.sshd import Sshd, keygen, node_entry, sshd_available  # noqa: E402
from trainers.status import has_ended_on_node, is_terminal  # noqa: E402
from trainyard import Experiment, ScriptRunConfig, Workspace  # noqa: E402
from trainyard.runstore import RunStore  # noqa: E402
from trainyard.snapshot import take_snapshot  # noqa: E402
from trainyard.submission import sync_blobs  # noqa: E402
from trainyard.tracker import pull_outputs  # noqa: E402
from trainyard.transport import close_all, open_node  # noqa: E402

TRAINYARD = str(Path(sys.executable).parent / "trainyard")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--mb", type=int, default=100)
    ap.add_argument("--files", type=int, default=2000)
    args = ap.parse_args()
    if not sshd_available():
        sys.exit("sshd is not installed (apt-get install openssh-server)")
    work = Path(tempfile.mkdtemp(prefix="trainyard-sshbench-"))
    os.chdir(work)
    key = work / "key"
    (work / "authorized_keys").write_text(keygen(key) + "\n")
    sshd = Sshd(work / "sshd", work / "authorized_keys").start()
    known = work / "known_hosts"
    known.write_text(f"[127.0.0.1]:{sshd.port} {sshd.host_key}\n")
    ssh = ["ssh", "-q", "-i", str(key), "-p", str(sshd.port), "-o", f"UserKnownHostsFile={known}",
           "-o", "StrictHostKeyChecking=yes", "root@127.0.0.1"]
    scp = ["scp", "-q", "-r", "-i", str(key), "-P", str(sshd.port), "-o", f"UserKnownHostsFile={known}",
           "-o", "StrictHostKeyChecking=yes"]
    node_root = work / "node"
    cfg = {"name": "bench", "root": ".", "computes": {"pool": {"type": "ssh", "nodes": [
        node_entry("n1", sshd, key, node_root, slots=4)]}}}
    (work / ".trainyard").mkdir()
    (work / ".trainyard" / "config.json").write_text(json.dumps(cfg))
    ws = Workspace.from_config()
    held_env = {**os.environ, "TRAINYARD_HOLDER_DIR": str(work / "h")}
    try:
        # (a) no-op overhead
        (work / "noop").mkdir()
        (work / "noop" / "noop.py").write_text("pass\n")
        exp = Experiment(ws, "bench")
        src = ScriptRunConfig("noop", "noop.py", compute_target="pool")
        exp.submit(src).wait_for_completion()  # warm: helper shipped, connection open
        raw = median_seconds(lambda: subprocess.run([*ssh, "python3", str(work / "noop" / "noop.py")], check=True),
                          args.repeat)
        api = median_seconds(lambda: exp.submit(src).wait_for_completion(), args.repeat)
        job = work / "job.yml"
        job.write_text("experiment_name: bench\ncode: noop\ncommand: python noop.py\ncompute: pool\n")
        direct_env = {**os.environ, "TRAINYARD_HOLDER": "0"}
        direct = median_seconds(lambda: subprocess.run([TRAINYARD, "submit", str(job)], check=True,
                                                       capture_output=True, env=direct_env), args.repeat)
        subprocess.run([TRAINYARD, "submit", str(job)], check=True, capture_output=True, env=held_env)
        while not list((work / "h").glob("*.sock")):  # the first command's holder comes up
            time.sleep(0.05)
        cli = median_seconds(lambda: subprocess.run([TRAINYARD, "submit", str(job)], check=True, capture_output=True,
                                                    env=held_env), args.repeat)
        print(f"(a) ssh host python3 noop.py (new connection each)   median {raw * 1000:7.1f} ms")
        print(f"    submit→Completed, Python API (connection reused)  median {api * 1000:7.1f} ms  "
              f"(raw + {(api - raw) * 1000:.0f} ms)")
        print(f"    trainyard submit, new CLI process, direct (before) median {direct * 1000:7.1f} ms  "
              f"({direct / raw:.2f}× raw)")
        print(f"    trainyard submit, new CLI process, held (after)   median {cli * 1000:7.1f} ms  "
              f"({cli / raw:.2f}× raw)")

        # (c) first sync vs scp -r
        tree = work / "tree"
        size = args.mb * 1024 * 1024 // args.files
        for i in range(args.files):
            d = tree / f"d{i % 20}"
            d.mkdir(parents=True, exist_ok=True)
            (d / f"f{i}.bin").write_bytes(os.urandom(size))
        snap = take_snapshot(tree, ws.objects, max_bytes=10 << 30, max_files=args.files + 10)
        node = open_node(ws, "pool", "n1")
        t = time.perf_counter()
        sent = sync_blobs(node, ws.objects, [snap.oid])
        ours = time.perf_counter() - t
        t = time.perf_counter()
        subprocess.run([*scp, str(tree), f"root@127.0.0.1:{work / 'scp-copy'}"], check=True)
        theirs = time.perf_counter() - t
        mb = snap.total_bytes / 1e6
        print(f"(c) first sync {len(snap.files)} files / {mb:.0f} MB: trainyard {mb / ours:6.1f} MB/s "
              f"({sent / 1e6:.0f} MB sent) vs scp -r {mb / theirs:6.1f} MB/s  → {theirs / ours:.2f}×")

        # (b) one-file change
        changed = tree / "d3" / "f3.bin"
        changed.write_bytes(os.urandom(size))
        snap2 = take_snapshot(tree, ws.objects, max_bytes=10 << 30, max_files=args.files + 10)
        sent2 = sync_blobs(node, ws.objects, [snap2.oid], bases=[snap.oid])
        manifest = ws.objects.path(snap2.oid).stat().st_size
        print(f"(b) re-submit after 1-file change: sent {sent2} bytes for a {size}-byte file "
              f"({(sent2 - size) / size * 100:.2f} % over the file; the whole manifest would be {manifest} bytes)")

        # (d) outputs pull vs scp
        (work / "writer").mkdir()
        (work / "writer" / "w.py").write_text(
            "import os\nos.makedirs('outputs', exist_ok=True)\n"
            f"for i in range(10):\n    open(f'outputs/o{{i}}.bin','wb').write(os.urandom({args.mb} * 104857))\n")
        run = exp.submit(ScriptRunConfig("writer", "w.py", compute_target="pool"))
        while run.record.get("node_state") is None and not is_terminal(run.status):
            answer = node.call("poll", {"run_id": run.id, "offsets": {}})
            if has_ended_on_node(answer["state"]):
                break
            time.sleep(0.1)
        t = time.perf_counter()
        collected, _ = pull_outputs(ws, RunStore(ws.root), run.id, node)
        ours = time.perf_counter() - t
        out_mb = sum((run.run_dir / c).stat().st_size for c in collected) / 1e6
        t = time.perf_counter()
        subprocess.run([*scp, f"root@127.0.0.1:{node_root / 'runs' / run.id / 'outputs'}", str(work / "scp-out")],
                       check=True)
        theirs = time.perf_counter() - t
        print(f"(d) outputs pull {out_mb:.0f} MB: trainyard {out_mb / ours:6.1f} MB/s (sha256-verified) vs "
              f"scp -r {out_mb / theirs:6.1f} MB/s  → {theirs / ours:.2f}×")
    finally:
        subprocess.run([TRAINYARD, "compute", "disconnect"], capture_output=True, env=held_env)
        close_all()
        sshd.stop()
        subprocess.run(["rm", "-rf", str(work)])


if __name__ == "__main__":
    main()
