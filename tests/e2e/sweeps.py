"""Helpers for the sweep tests: a tiny trial script and checks over the recorded children."""

from __future__ import annotations

from trainyard import Workspace
from trainyard.runstore import RunStore

TRIAL_SCRIPT = r'''
import argparse, sys, time
from trainers import Run

p = argparse.ArgumentParser()
p.add_argument("--quality", default="good")
p.add_argument("--x", type=float, default=1.0)
p.add_argument("--steps", type=int, default=1)
p.add_argument("--sleep", type=float, default=0.0)
p.add_argument("--bad-steps", type=int, default=0, help="steps for --quality bad (default: --steps)")
a = p.parse_args()
run = Run.get_context()
for i in range(a.bad_steps if a.quality == "bad" and a.bad_steps else a.steps):
    run.log("score", (0.9 if a.quality == "good" else 0.1) * a.x)
    time.sleep(a.sleep)
if a.quality == "crash":
    sys.exit(3)
print("trial done", a.quality, a.x, flush=True)
'''


def make_trial(root, name="src"):
    (root / name).mkdir(parents=True, exist_ok=True)
    (root / name / "trial.py").write_text(TRIAL_SCRIPT)
    return root / name


def max_in_flight(records: list[dict]) -> int:
    """Most children alive at once, from their creation (submit) and end times (pure)."""
    events = sorted([(r["created"], 1) for r in records] + [(r["ended"], -1) for r in records],
                    key=lambda e: (e[0], e[1]))
    peak = live = 0
    for _, step in events:
        live += step
        peak = max(peak, live)
    return peak



def children_of(ws: Workspace, parent_id: str) -> list[dict]:
    return [r for r in RunStore(ws.root).iter_runs() if r.get("parent") == parent_id]
