"""Hostile input and faults on the local compute: real supervisor, real processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import mount_tmpfs, run_cli, wait_until, write
from tests.e2e.hostile import make_argv_project, received_argv
from tests.e2e.jobs import make_project
from trainers.supervisor import is_alive, process_start_time
from trainyard import Experiment, ScriptRunConfig, Workspace


def test_hostile_inputs_are_delivered_verbatim_on_local(tmp_path):
    """Shell metacharacters in inputs, bare or inside quotes: nothing runs, the job gets exactly the values."""
    mark = tmp_path / "executed"
    job, sets, expected = make_argv_project(tmp_path, mark)
    out = run_cli("submit", str(job), *sets, "--json")
    assert out.returncode == 0, out.stderr
    assert received_argv(json.loads(out.stdout), tmp_path) == expected
    assert not mark.exists()



def node_status(run_id: str) -> dict:
    return json.loads((Path.home() / ".trainyard" / "runs" / run_id / "status.json").read_text())


def test_killed_supervisor_fails_the_run_and_is_no_zombie(tmp_path):
    """SIGKILL of the supervisor (not the job), with the submitting process still alive: the supervisor is
    not a zombie child of it, the run becomes Failed with the cause, and the orphaned job is stopped."""
    make_project(tmp_path)
    ws = Workspace.load()
    src = ScriptRunConfig(source_directory="src", script="train.py", arguments=["--sleep", "60"])
    run = Experiment(ws, "sup").submit(src)
    wait_until(lambda: node_status(run.id).get("state") == "Running", what="Running")
    status = node_status(run.id)
    os.kill(status["supervisor_pid"], signal.SIGKILL)
    with pytest.raises(ChildProcessError):
        os.waitpid(status["supervisor_pid"], os.WNOHANG)  # not our child: nothing for us to reap
    details = run.wait_for_completion(raise_on_error=False, timeout=30)
    assert details["status"] == "Failed" and "supervisor process is gone" in run.record["status_reason"]
    wait_until(lambda: not is_alive(status["pid"], status.get("pid_start")), timeout=30, what="the job to stop")


def test_zombie_is_not_alive():
    """A dead child not yet reaped (a zombie) does not count as a live process."""
    proc = subprocess.Popen(["true"])
    wait_until(lambda: open(f"/proc/{proc.pid}/stat").read().rsplit(")", 1)[1].split()[0] == "Z", what="zombie")
    assert not is_alive(proc.pid, process_start_time(proc.pid))
    proc.wait()


@pytest.fixture
def small_node_root(tmp_path):
    """The local node's root on a 4 MiB tmpfs (needs root and mount rights, as in the CI container)."""
    root = Path.home() / ".trainyard"
    yield mount_tmpfs(root, "4m")
    subprocess.run(["umount", "-l", str(root)], check=True)


def test_job_filling_the_disk_fails_with_no_space_left(small_node_root, tmp_path):
    """A job that fills the node's disk → Failed with "no space left on the node", not a hang or silence."""
    write(tmp_path / "src" / "fill.py", "import os\nos.makedirs('outputs', exist_ok=True)\n"
          "with open('outputs/big', 'wb') as f:\n    while True:\n        f.write(b'0' * 65536)\n")
    out = run_cli("submit", str(write(tmp_path / "job.yml", "code: src\ncommand: python fill.py\n")), "--json",
                  timeout=120)
    assert out.returncode != 0
    details = json.loads(out.stdout)
    assert details["status"] == "Failed" and "no space left on the node" in details["error"]["message"]


def test_stray_files_in_the_nodes_directories_break_nothing(tmp_path):
    """A file where a run directory should be, a corrupt status.json and junk in queue/ are skipped and
    reported; `compute status` works and the next run takes the free slot at once."""
    write(tmp_path / ".trainyard" / "config.json", json.dumps(
        {"name": "ws", "root": ".", "computes": {"local": {"type": "local", "slots": 1}}}))
    node = Path.home() / ".trainyard"
    write(node / "runs" / "x", "written by a job as ../../x")
    write(node / "runs" / "e2e_1_deadbeef" / "status.json", "{truncated")
    write(node / "queue" / "junk", "")
    write(node / "queue" / "00000000000000000001_no-such-run", "")
    status = run_cli("compute", "status", "local", "--json")
    assert status.returncode == 0, status.stderr
    assert "runs/x is not a run directory" in status.stderr and "unreadable" in status.stderr
    out = run_cli("submit", str(make_project(tmp_path)), timeout=60)
    assert out.returncode == 0, out.stderr
    assert sorted(p.name for p in (node / "queue").iterdir()) == []


def test_shell_exit_code_of_a_killed_process_names_the_signal(tmp_path):
    """`cmd && echo ok` where cmd is SIGKILLed: the reason says 137 is 128 + 9, SIGKILL."""
    write(tmp_path / "src" / "die.py", "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n")
    job = write(tmp_path / "job.yml", "code: src\ncommand: python die.py && echo ok\n")
    out = run_cli("submit", str(job), "--json")
    assert out.returncode != 0
    assert "exited with code 137 (128 + 9: a process of the job was killed by SIGKILL)" in \
        json.loads(out.stdout)["error"]["message"]


def test_runs_download_into_an_unwritable_place_is_one_line(tmp_path):
    """`runs download -o` where nothing can be written → one-line error naming the path."""
    out = run_cli("submit", str(make_project(tmp_path)), "--json")
    run_id = json.loads(out.stdout)["runId"]
    out = run_cli("runs", "download", run_id, "-o", "/proc/trainyard-test")
    assert out.returncode == 1 and "Traceback" not in out.stderr and "/proc/trainyard-test" in out.stderr, out.stderr


def test_timings_come_from_the_node_and_one_list_catches_up(tmp_path):
    """A detached 2 s job looked at well after it ended: one `runs list` shows it Completed, with the job's own
    start and end (the node's, about 2 s apart), not the times the client looked."""
    job = make_project(tmp_path)
    run_id = run_cli("submit", str(job), "--detach", "--set", "inputs.sleep=2").stdout.strip()
    status = Path.home() / ".trainyard" / "runs" / run_id / "status.json"
    node = wait_until(lambda: status.is_file() and (st := node_status(run_id)).get("state") == "Completed" and st,
                      timeout=60, what="the job to end on the node")
    time.sleep(2)  # not a wait for anything: the client looks a while after the end
    runs = {r["run_id"]: r for r in json.loads(run_cli("runs", "list", "--json").stdout)}
    record = runs[run_id]
    assert record["status"] == "Completed" and record["started"] is not None
    assert (record["started"], record["ended"]) == (node["started"], node["ended"])
    # the job's own 2 s, plus its interpreter's start-up (slow on a loaded machine), not the 2 s after the end
    assert 1.9 <= record["ended"] - record["started"] < 10, record["ended"] - record["started"]
