"""A small job used by the end-to-end tests: its behaviour is picked by the --mode argument."""

JOB_SCRIPT = r'''
import argparse, os, signal, sys, time
from trainers import Run

p = argparse.ArgumentParser()
p.add_argument("--mode", default="ok")
p.add_argument("--sleep", type=float, default=0)
a = p.parse_args()
run = Run.get_context()
print("starting", run.id, flush=True)
for i in range(3):
    run.log("loss", 1.0 / (i + 1), step=i)
run.log("accuracy", 0.875)
run.tag("mode", a.mode)
os.makedirs("outputs", exist_ok=True)
with open("outputs/model.txt", "w") as f:
    f.write("weights")
if a.mode == "ignore-term":
    signal.signal(signal.SIGTERM, lambda *_: print("ignoring SIGTERM", flush=True))
if a.sleep:
    print("sleeping", flush=True)
    deadline = time.time() + a.sleep
    while time.time() < deadline:
        time.sleep(0.05)
if a.mode == "crash":
    print("something went wrong: bad batch", file=sys.stderr, flush=True)
    sys.exit(3)
print("done", flush=True)
'''

JOB_YML = """\
experiment_name: e2e
code: src
command: python train.py --mode ${{{{inputs.mode}}}} --sleep ${{{{inputs.sleep}}}}
inputs:
  mode: ok
  sleep: 0
limits:
  timeout: {timeout}
register_model:
  name: e2e-model
  path: {model_path}
"""


def make_project(root, timeout=600, model_path="outputs/model.txt", extra=""):
    (root / "src").mkdir(parents=True, exist_ok=True)
    (root / "src" / "train.py").write_text(JOB_SCRIPT)
    job = root / "job.yml"
    job.write_text(JOB_YML.format(timeout=timeout, model_path=model_path) + extra)
    return job
