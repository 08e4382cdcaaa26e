"""End to end on the local compute: real supervisor, real processes, the CLI and the Python API."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, TRAINYARD, run_cli, write
from tests.e2e.jobs import make_project
from trainyard import ActivityFailedException, Experiment, Model, Run, ScriptRunConfig, Workspace
from trainyard.runstore import RunStore


def wait_for_status(ws: Workspace, wanted: str, timeout: float = 60) -> str:
    """Poll the store until some run reaches ``wanted``; returns its id."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        for r in RunStore(ws.root).list():
            run = Run(ws, r["run_id"])
            if run.get_status() == wanted:
                return run.id
        time.sleep(0.1)
    raise AssertionError(f"no run reached {wanted}")


def test_job_ignores_the_nodes_bashrc(tmp_path, monkeypatch):
    """A ~/.bashrc putting another python first (a pyenv or conda init) does not change the job's interpreter,
    even where bash thinks sshd started it (SSH_CLIENT set, own session)."""
    fake = write(tmp_path / "fakebin" / "python", "#!/bin/sh\necho WRONG-PYTHON\nexit 7\n")
    fake.chmod(0o755)
    write(tmp_path / "home" / ".bashrc", f"export PATH={fake.parent}:$PATH\n")
    monkeypatch.setenv("SSH_CLIENT", "127.0.0.1 50000 22")
    monkeypatch.delenv("SHLVL", raising=False)  # as under a login shell that is not bash (dash, sh)
    write(tmp_path / "src" / "which.py", "import sys\nprint('EXE=' + sys.executable)\n")
    out = run_cli("submit", str(write(tmp_path / "job.yml", "code: src\ncommand: python which.py\n")))
    assert out.returncode == 0, out.stderr
    assert f"EXE={Path(TRAINYARD).parent / 'python'}\n" in out.stderr and "WRONG-PYTHON" not in out.stderr


def test_cli_submit_completes_and_registers(tmp_path):
    """submit → Completed: metrics, outputs, logs collected; model registered; exit 0."""
    job = make_project(tmp_path)
    out = run_cli("submit", str(job), "--json")
    assert out.returncode == 0, out.stderr
    details = json.loads(out.stdout)
    assert details["status"] == "Completed" and details["modelId"] == "e2e-model:1"
    assert details["metrics"]["loss"] == [1.0, 0.5, 1 / 3] and details["metrics"]["accuracy"] == 0.875
    assert details["tags"]["mode"] == "ok"
    assert [h["status"] for h in details["history"]][:2] == ["NotStarted", "Starting"]
    assert details["history"][-1]["status"] == "Completed"
    assert "starting" in out.stderr and "done" in out.stderr  # the log streamed
    run = Run(Workspace.load(), details["runId"])
    assert {"outputs/model.txt", "logs/std_log.txt"} <= set(run.get_file_names())
    assert Model(Workspace.load(), "e2e-model").serialize()["lineage"]["metrics"]["accuracy"] == 0.875


def test_python_api_submit(tmp_path):
    """Experiment.submit(ScriptRunConfig) → wait_for_completion → get_metrics/register_model."""
    make_project(tmp_path)
    ws = Workspace.load()
    src = ScriptRunConfig(source_directory="src", script="train.py", arguments=["--mode", "ok"])
    run = Experiment(ws, "api").submit(src, tags={"who": "test"})
    details = run.wait_for_completion(show_output=False)
    assert details["status"] == "Completed" and run.get_tags()["who"] == "test"
    assert run.get_metrics("accuracy") == {"accuracy": 0.875}
    model = run.register_model("api-model", "outputs/model.txt", model_framework="Custom")
    assert model.id == "api-model:1" and model.run_id == run.id
    with pytest.raises(Exception, match="did not produce 'outputs/nope.pkl'.*outputs/model.txt"):
        run.register_model("x", "outputs/nope.pkl")
    assert run.download_file("outputs/model.txt", str(tmp_path / "m.txt")) == str(tmp_path / "m.txt")
    assert (tmp_path / "m.txt").read_text() == "weights"


def test_crash_fails_with_exit_code_and_tail(tmp_path):
    """A crashing script → Failed with its exit code and log tail; submit exits with the job's code."""
    job = make_project(tmp_path)
    out = run_cli("submit", str(job), "--set", "inputs.mode=crash")
    assert out.returncode == 3
    assert "Failed" in out.stderr and "exited with code 3" in out.stderr
    assert "something went wrong: bad batch" in out.stderr and "Traceback" not in out.stderr
    ws = Workspace.load()
    record = RunStore(ws.root).list()[0]
    assert record["status"] == "Failed" and record["exit_code"] == 3 and not record.get("model_id")


def test_timeout_fails_with_reason(tmp_path):
    """limits.timeout → Failed with 'timed out after N s'."""
    job = make_project(tmp_path, timeout=1)
    out = run_cli("submit", str(job), "--set", "inputs.sleep=30")
    assert out.returncode == 3 and "timed out after 1 s" in out.stderr
    with pytest.raises(ActivityFailedException, match="timed out"):
        Run(Workspace.load(), RunStore(Workspace.load().root).list()[0]["run_id"]).wait_for_completion()


def test_cancel_escalates_to_kill_within_grace(tmp_path):
    """Cancel a job that ignores SIGTERM → SIGKILL after the grace period → Canceled."""
    ws = Workspace.init(tmp_path)
    cfg = json.loads(ws.config_path.read_text())
    cfg["limits"] = {"cancel_grace_seconds": 1}
    ws.config_path.write_text(json.dumps(cfg))
    job = make_project(tmp_path)
    out = run_cli("submit", str(job), "--detach", "--set", "inputs.mode=ignore-term", "--set", "inputs.sleep=60")
    run_id = out.stdout.strip()
    ws = Workspace.load()
    deadline = time.time() + 30
    while "sleeping" not in (ws.root / "experiments/e2e/runs" / run_id / "logs/std_log.txt").read_text() \
            if (ws.root / "experiments/e2e/runs" / run_id / "logs/std_log.txt").exists() else True:
        Run(ws, run_id).refresh()
        assert time.time() < deadline
        time.sleep(0.1)
    started = time.time()
    cancel = run_cli("runs", "cancel", run_id)
    assert cancel.returncode == 0 and cancel.stdout.strip().endswith("Canceled")
    assert time.time() - started < 20  # TERM, 1 s grace, KILL (+ the CLI's start-up), not the job's 60 s
    record = RunStore(ws.root).load(run_id)
    assert [h["status"] for h in record["history"]][-2:] == ["Finalizing", "Canceled"]
    assert "ignoring SIGTERM" in (ws.root / "experiments/e2e/runs" / run_id / "logs/std_log.txt").read_text()


def test_ctrl_c_leaves_run_going_and_attach_collects(tmp_path):
    """SIGINT to `submit` → exit 130 with the re-attach hint; `runs attach` sees Completed with outputs."""
    job = make_project(tmp_path)
    proc = subprocess.Popen([TRAINYARD, "submit", str(job), "--set", "inputs.sleep=6"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ws = Workspace.load()
    run_id = wait_for_status(ws, "Running")  # (the job sleeps long enough not to end before the SIGINT lands)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and f"trainyard runs attach {run_id}" in err
    attach = run_cli("runs", "attach", run_id)
    assert attach.returncode == 0 and "Completed" in attach.stdout and "e2e-model:1" in attach.stdout
    assert (RunStore(ws.root).run_dir(run_id) / "outputs" / "model.txt").read_text() == "weights"


def test_killed_job_fails_with_signal(tmp_path):
    """kill -9 of the job's process → Failed naming SIGKILL."""
    job = make_project(tmp_path)
    out = run_cli("submit", str(job), "--detach", "--set", "inputs.sleep=60")
    ws = Workspace.load()
    run_id = out.stdout.strip()
    wait_for_status(ws, "Running")
    pid = RunStore(ws.root).load(run_id)["pid"]
    subprocess.run(["pkill", "-9", "-g", str(pid)])
    run = Run(ws, run_id)
    run.wait_for_completion(raise_on_error=False, timeout=30)
    assert run.status == "Failed" and "SIGKILL" in run.record["status_reason"]


def test_missing_model_path_fails_registration_with_listing(tmp_path):
    """register_model with a path the run did not produce → exit 1, the error lists what it produced."""
    job = make_project(tmp_path, model_path="outputs/model.pkl")
    out = run_cli("submit", str(job))
    assert out.returncode == 1
    assert "did not produce 'outputs/model.pkl'" in out.stderr and "outputs/model.txt" in out.stderr


def test_runs_commands(tmp_path):
    """runs list/show/metrics --json, metrics --plot, logs and download work on a finished run."""
    job = make_project(tmp_path)
    run_id = json.loads(run_cli("submit", str(job), "--json").stdout)["runId"]
    listed = json.loads(run_cli("runs", "list", "--json").stdout)
    assert [r["run_id"] for r in listed] == [run_id]
    shown = json.loads(run_cli("runs", "show", run_id, "--json").stdout)
    assert shown["status"] == "Completed" and "outputs/model.txt" in shown["files"]
    assert json.loads(run_cli("runs", "metrics", run_id, "--json").stdout)["accuracy"] == 0.875
    plot = tmp_path / "m.png"
    assert run_cli("runs", "metrics", run_id, "--plot", str(plot)).returncode == 0
    assert plot.read_bytes()[:4] == b"\x89PNG" and plot.stat().st_size > 5000
    assert "done" in run_cli("runs", "logs", run_id).stdout
    assert run_cli("runs", "download", run_id, "-o", str(tmp_path / "dl")).returncode == 0
    assert (tmp_path / "dl" / "outputs" / "model.txt").read_text() == "weights"
    assert "RUN ID" in run_cli("runs", "list").stdout
    assert json.loads(run_cli("models", "list", "--json").stdout)[0]["name"] == "e2e-model"
    missing = run_cli("runs", "show", "nope_1_abcdef12")
    assert missing.returncode == 1 and "no run 'nope_1_abcdef12'" in missing.stderr


def test_submit_script_matches_cli(tmp_path):
    """`python scripts/submit.py` behaves as `trainyard submit` (same result, same exit code)."""
    job = make_project(tmp_path)
    out = subprocess.run([sys.executable, str(REPO / "scripts" / "submit.py"), str(job), "--set",
                          "inputs.mode=crash"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 3 and "exited with code 3" in out.stderr


CHATTY = "import time\nfor i in range(400):\n    print(f'line {i:04d}', flush=True)\n    time.sleep(0.005)\n"


def test_two_followers_do_not_duplicate_logs(tmp_path):
    """`submit` and `runs attach` following one chatty run at once: every log line is stored once."""
    write(tmp_path / "src" / "chatty.py", CHATTY)
    job = write(tmp_path / "job.yml", "code: src\ncommand: python chatty.py\n")
    followers = [subprocess.Popen([TRAINYARD, "submit", str(job)], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)]
    ws = Workspace.load()
    run_id = wait_for_status(ws, "Running")
    followers += [subprocess.Popen([TRAINYARD, "runs", "attach", run_id], stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for p in followers:
        p.communicate(timeout=60)
        assert p.returncode == 0
    lines = (RunStore(ws.root).run_dir(run_id) / "logs" / "std_log.txt").read_text().splitlines()
    assert lines == [f"line {i:04d}" for i in range(400)]
