"""Interrupted submits: Ctrl-C, SIGTERM or SIGKILL during the upload never leave a run that cannot end."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, run_cli
from tests.e2e.jobs import make_project

# the real CLI, with its progress sink made to stall at the upload so a signal lands there
STALLING_SUBMIT = """
import sys, time
import trainyard.cli.submit as command
def stall(message):
    print(message, file=sys.stderr, flush=True)
    if message.startswith("syncing to"):
        time.sleep(120)
command.make_progress = lambda: stall
from trainyard.cli import main
main(["submit", sys.argv[1], "--current-env"])
"""


def start_stalled_submit(tmp_path: Path) -> subprocess.Popen:
    job = make_project(tmp_path)
    (tmp_path / "src" / "weights.bin").write_bytes(b"\1" * (3 << 20))  # big enough to report upload progress
    proc = subprocess.Popen([sys.executable, "-c", STALLING_SUBMIT, str(job)], cwd=tmp_path, text=True,
                            stderr=subprocess.PIPE, env={**__import__("os").environ, "PYTHONPATH": str(REPO)})
    for line in proc.stderr:
        if line.startswith("syncing to"):
            return proc
    raise AssertionError(f"the submit never reached the upload (exit {proc.wait()})")


def only_run(tmp_path: Path) -> dict:
    out = run_cli("runs", "list", "--json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    runs = json.loads(out.stdout)
    assert len(runs) == 1
    return runs[0]


@pytest.mark.parametrize("sig, code, status", [(signal.SIGINT, 130, "Canceled"), (signal.SIGTERM, 143, "Canceled")])
def test_interrupted_upload_records_the_run_and_exits(tmp_path, sig, code, status):
    """Ctrl-C (exit 130, not click's `Aborted!` 1) or SIGTERM mid-upload records the run as never launched."""
    proc = start_stalled_submit(tmp_path)
    proc.send_signal(sig)
    assert proc.wait(timeout=30) == code, proc.stderr.read()
    assert "Aborted!" not in proc.stderr.read()
    run = only_run(tmp_path)
    assert run["status"] == status and "never launched" in run["status_reason"]


def test_killed_submit_is_recognised_as_never_launched(tmp_path):
    """After SIGKILL mid-upload, show/list/cancel/attach answer Failed "never launched" at once, cleanly."""
    proc = start_stalled_submit(tmp_path)
    run_id = only_run(tmp_path)["run_id"]
    assert only_run(tmp_path)["status"] == "Starting"  # still being submitted: left alone
    proc.kill()
    proc.wait(timeout=30)
    show = run_cli("runs", "show", run_id, "--json", cwd=tmp_path)
    assert show.returncode == 0, show.stderr
    details = json.loads(show.stdout)
    assert details["status"] == "Failed" and "never launched" in details["statusReason"]
    cancel = run_cli("runs", "cancel", run_id, cwd=tmp_path, timeout=30)
    assert cancel.returncode == 0 and "Failed" in cancel.stdout and "Traceback" not in cancel.stderr
    attach = run_cli("runs", "attach", run_id, cwd=tmp_path, timeout=30)
    assert attach.returncode == 3 and "never launched" in attach.stderr and "Traceback" not in attach.stderr


def test_cancel_while_submitting_stops_the_launch(tmp_path):
    """`runs cancel` during the upload records Canceled and the submit does not launch the job."""
    proc = start_stalled_submit(tmp_path)
    run_id = only_run(tmp_path)["run_id"]
    cancel = run_cli("runs", "cancel", run_id, cwd=tmp_path, timeout=30)
    assert cancel.returncode == 0 and "Canceled" in cancel.stdout, cancel.stderr
    proc.kill()
    proc.wait(timeout=30)
    assert only_run(tmp_path)["status"] == "Canceled"


def test_logs_follow_exits_130_on_ctrl_c(tmp_path):
    """`runs logs --follow` stopped with Ctrl-C exits 130 and the run keeps going."""
    job = make_project(tmp_path)
    out = run_cli("submit", str(job), "--detach", "--current-env", "--set", "inputs.sleep=60", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    run_id = out.stdout.strip()
    follow = subprocess.Popen([str(Path(sys.executable).parent / "trainyard"), "runs", "logs", run_id, "--follow"],
                              cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    for line in follow.stdout:
        if "sleeping" in line or time.time() > deadline:
            break
    follow.send_signal(signal.SIGINT)
    assert follow.wait(timeout=30) == 130
    assert only_run(tmp_path)["status"] == "Running"
    assert run_cli("runs", "cancel", run_id, cwd=tmp_path).returncode == 0
