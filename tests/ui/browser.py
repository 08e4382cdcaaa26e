"""A real `trainyard ui` on a free loopback port and Debian's Chromium driven by Playwright."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

from tests.conftest import REPO, TRAINYARD, missing

ARTIFACTS = REPO / "test-artifacts" / "ui"

UI_JOB = r'''
import argparse, sys, time
from trainers import Run

p = argparse.ArgumentParser()
p.add_argument("--lr", type=float, default=0.1)
p.add_argument("--steps", type=int, default=5)
p.add_argument("--sleep", type=float, default=0)
p.add_argument("--mode", default="ok")
a = p.parse_args()
run = Run.get_context()
for i in range(a.steps):
    run.log("loss", 1.0 / (1 + a.lr * i), step=i)
    run.log("val_loss", 1.2 / (1 + a.lr * i), step=i)
    print(f"step {i} loss {1.0 / (1 + a.lr * i):.4f}", flush=True)
    if a.sleep:
        time.sleep(a.sleep)
run.log("accuracy", 0.5 + a.lr)
if a.mode == "ok":
    run.log_confusion_matrix("confusion", [[5, 1], [2, 7]], labels=["cat", "dog"])
import os
os.makedirs("outputs", exist_ok=True)
open("outputs/model.txt", "w").write(f"lr={a.lr}")
open("outputs/report.csv", "w").write("epoch,loss\n0,1.0\n1,0.5\n")
if a.mode == "crash":
    print("bad batch", file=sys.stderr, flush=True)
    sys.exit(3)
'''

UI_JOB_YML = """\
experiment_name: {experiment}
code: src
command: python train.py --lr ${{{{inputs.lr}}}} --steps ${{{{inputs.steps}}}} --sleep ${{{{inputs.sleep}}}} --mode ${{{{inputs.mode}}}}
inputs:
  lr: 0.1
  steps: 5
  sleep: 0
  mode: ok
register_model:
  name: ui-model
  path: outputs/model.txt
"""


def make_ui_project(root: Path, experiment: str = "ui") -> Path:
    (root / "src").mkdir(parents=True, exist_ok=True)
    (root / "src" / "train.py").write_text(UI_JOB)
    job = root / "job.yml"
    job.write_text(UI_JOB_YML.format(experiment=experiment))
    return job


def chromium_path() -> str:
    """Debian's Chromium; in CI (CI=true) a missing browser fails the test instead of skipping it."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        missing("chromium is not installed (apt-get install chromium; .ci/run does it)")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Dashboard:
    """`trainyard ui` as a user starts it, in ``cwd``; stopped with Ctrl-C (SIGINT)."""

    def __init__(self, cwd: Path, env: dict, *extra: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(cwd / "ui.log", "w+")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen([TRAINYARD, "ui", "--port", str(self.port), *extra], cwd=cwd, env=env,
                                     stdout=self.log, stderr=subprocess.STDOUT, text=True)
        deadline = time.time() + 120  # generous: start-up is slow on a loaded machine
        while time.time() < deadline:  # the URL is printed just before uvicorn binds: wait for both
            if self.proc.poll() is not None:
                raise AssertionError(f"trainyard ui exited: {self.output()}")
            if "dashboard:" in self.output():
                try:
                    socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                    return
                except OSError:
                    pass
            time.sleep(0.1)
        self.stop()
        raise AssertionError(f"trainyard ui did not serve {self.url} within 120 s")

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read()

    def stop(self) -> None:
        self.proc.send_signal(2)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def submit(cwd: Path, env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([TRAINYARD, "submit", "job.yml", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
