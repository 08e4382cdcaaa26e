"""How a growing run store affects a submit and `runs list`: N finished runs, then time the lookups.

    python benchmarks/runstore_scale.py [--runs 3000] [--repeat 5]

Prints medians; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from timing import median_seconds  # noqa: E402

from trainers.status import COMPLETED  # noqa: E402
from trainyard import Workspace  # noqa: E402
from trainyard.runstore import RunStore, new_record  # noqa: E402
from trainyard.submission import base_manifests  # noqa: E402

TRAINYARD = str(Path(sys.executable).parent / "trainyard")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    os.chdir(tempfile.mkdtemp(prefix="trainyard-runstore-"))
    store = RunStore(Workspace.load().root)
    for i in range(args.runs):
        run_id = f"exp{i % 3}_{1_790_000_000 + i}_{i:08x}"
        store.create(new_record(run_id, f"exp{i % 3}", compute="pool", node={"name": f"n{i % 2}"},
                                snapshot=f"{i:064x}", created=1_790_000_000 + i))
        store.set_status(run_id, COMPLETED, None)
    ws = Workspace.load()
    print(f"{args.runs} runs in the store")
    print(f"submit's delta-base lookup (base_manifests)  median {median_seconds(lambda: base_manifests(RunStore(ws.root), 'pool', 'n1'), args.repeat) * 1000:7.1f} ms")
    print(f"RunStore.list() (every record)               median {median_seconds(store.list, args.repeat) * 1000:7.1f} ms")
    cli = 1000 * median_seconds(lambda: subprocess.run([TRAINYARD, "runs", "list", "-n", "20"], check=True,
                                           capture_output=True), args.repeat)
    print(f"`trainyard runs list -n 20` (new process)    median {cli:7.1f} ms")


if __name__ == "__main__":
    main()
