"""Silent nodes (issue 10, item 7): how long a command waits on a host that stops answering, side by side
with the figures reported before the fix, against a real OpenSSH sshd on 127.0.0.1.

    .venv/bin/python benchmarks/silent_node.py [--baseline REV]

(a) `trainyard submit` to a host that accepts TCP and then says nothing (connect_timeout 10 s, the default);
(b) `trainyard runs list` with three active runs on a node whose sshd is frozen (SIGSTOP).
With --baseline, the same measurements run on that git revision's code too (its tree on PYTHONPATH) and
the figures are printed side by side. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.sshd import Sshd, keygen, node_entry  # noqa: E402

TRAINYARD = str(Path(sys.executable).parent / "trainyard")


def cli(cwd: Path, *args: str) -> tuple[float, subprocess.CompletedProcess]:
    started = time.perf_counter()
    out = subprocess.run([TRAINYARD, *args], cwd=cwd, capture_output=True, text=True)
    return time.perf_counter() - started, out


def measure() -> tuple[float, str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        os.environ["HOME"] = str(base / "home")
        key = base / "key"
        (base / "authorized").write_text(keygen(key) + "\n")
        sshd = Sshd(base / "sshd", base / "authorized").start()
        silent = socket.socket()
        silent.bind(("127.0.0.1", 0))
        silent.listen(50)
        held = []
        threading.Thread(target=lambda: [held.append(silent.accept()) for _ in iter(int, 1)], daemon=True).start()
        node = node_entry("n1", sshd, key, base / "node", slots=3, connect_timeout=10)
        mute = {**node, "name": "mute", "port": silent.getsockname()[1]}
        (base / ".trainyard").mkdir()
        (base / ".trainyard" / "config.json").write_text(json.dumps({"name": "b", "root": ".", "computes": {
            "pool": {"type": "ssh", "nodes": [node]}, "mute": {"type": "ssh", "nodes": [mute]}}}))
        (base / "src").mkdir()
        (base / "src" / "sleep.py").write_text("import time\ntime.sleep(120)\n")
        (base / "job.yml").write_text("code: src\ncommand: python sleep.py\n")
        submit_s, out = cli(base, "submit", "job.yml", "--compute", "mute")
        message = out.stderr.strip().splitlines()[-1][:100]
        ids = [cli(base, "submit", "job.yml", "--compute", "pool", "--detach")[1].stdout.strip() for _ in range(3)]
        sshd.pause()
        try:
            list_s, _ = cli(base, "runs", "list")
        finally:
            sshd.pause(resume=True)
        for run_id in ids:
            cli(base, "runs", "cancel", run_id, "--no-wait")
        sshd.stop()
        return submit_s, message, list_s


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", metavar="REV", help="also measure this git revision's code")
    args = ap.parse_args()
    results = {"this tree": measure()}
    if args.baseline:
        with tempfile.TemporaryDirectory() as old:
            archive = subprocess.run(["git", "archive", args.baseline], capture_output=True, check=True).stdout
            subprocess.run(["tar", "-x", "-C", old], input=archive, check=True)
            os.environ["PYTHONPATH"] = old
            results[args.baseline] = measure()
            del os.environ["PYTHONPATH"]
    for label, (submit_s, message, list_s) in results.items():
        print(f"{label:>10}: (a) submit to a mute host {submit_s:5.1f} s   (b) runs list, 3 active runs on a "
              f"frozen node {list_s:5.1f} s\n{'':>12}(a) said: {message}")


if __name__ == "__main__":
    main()
