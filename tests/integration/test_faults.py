"""Hostile input and faults on an SSH pool of real OpenSSH servers."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
import time

from tests.conftest import TRAINYARD, run_cli, wait_until
from tests.e2e.hostile import make_argv_project, received_argv
from tests.e2e.jobs import make_project
from tests.integration.conftest import set_config
from trainers.supervisor import is_alive
from trainyard import Run, Workspace
from trainyard.transport import close_all


def test_hostile_inputs_are_delivered_verbatim_on_pool(pool, tmp_path):
    """Over SSH too: quoted or bare, an input value is never parsed by a shell and arrives as given."""
    mark = tmp_path / "executed"
    job, sets, expected = make_argv_project(tmp_path, mark)
    out = run_cli("submit", str(job), "--compute", "pool", *sets, "--json")
    assert out.returncode == 0, out.stderr
    assert received_argv(json.loads(out.stdout), tmp_path) == expected
    assert not mark.exists()


def test_killed_supervisor_on_pool_fails_the_run(pool, tmp_path):
    """SIGKILL of only the supervisor while the submitting client stays connected (its node helper is the
    supervisor's launcher) → the client ends with Failed and the cause, and the orphaned job is stopped."""
    job = make_project(tmp_path)
    client = subprocess.Popen([TRAINYARD, "submit", str(job), "--compute", "pool", "--set", "inputs.sleep=60"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not (paths := [p for r in pool["roots"] for p in r.glob("runs/*/status.json")]) or \
            json.loads(paths[0].read_text()).get("state") != "Running":
        assert time.time() < deadline and client.poll() is None, "the run never started"
        time.sleep(0.1)
    status = json.loads(paths[0].read_text())
    os.kill(status["supervisor_pid"], signal.SIGKILL)
    _out, err = client.communicate(timeout=30)
    assert client.returncode != 0 and "supervisor process is gone" in err
    run = Run(Workspace.load(), paths[0].parent.name)
    assert run.status == "Failed"
    wait_until(lambda: not is_alive(status["pid"], status.get("pid_start")), timeout=30, what="the job to stop")


def silent_listener():
    """A TCP port that accepts connections and never says anything (a hung host)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(50)
    conns = []

    def accept():
        while True:
            try:
                conns.append(srv.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    return srv


def test_submit_to_a_silent_host_fails_within_connect_timeout_in_one_line(pool, tmp_path):
    """A host that accepts TCP and then says nothing: one clear line within about connect_timeout, no
    paramiko traceback, no misleading "(No existing session)"."""
    srv = silent_listener()
    node = {**pool["config"]["computes"]["pool"]["nodes"][0], "name": "silent", "port": srv.getsockname()[1],
            "connect_timeout": 2}
    set_config(tmp_path, {**pool["config"], "computes": {"pool": {"type": "ssh", "nodes": [node]}}})
    start = time.monotonic()
    out = run_cli("submit", str(make_project(tmp_path)), "--compute", "pool")
    took = time.monotonic() - start
    srv.close()
    assert out.returncode == 1 and "Traceback" not in out.stderr and "No existing session" not in out.stderr
    assert "no SSH handshake" in out.stderr and took < 15, (took, out.stderr)


def test_node_lost_after_not_responding_timeout_then_attach_revises(pool, tmp_path):
    """A node that stays silent past limits.not_responding_timeout → Failed "node lost"; when it comes back
    with the run finished, `runs attach` revises the run to Completed with its outputs."""
    for n in pool["config"]["computes"]["pool"]["nodes"]:
        n["connect_timeout"] = 2
    set_config(tmp_path, pool["config"])
    job = make_project(tmp_path)
    job.write_text(job.read_text().replace("limits:\n", "limits:\n  not_responding_timeout: 2\n"))
    run_id = run_cli("submit", str(job), "--compute", "pool", "--detach", "--set", "inputs.sleep=3").stdout.strip()
    run = Run(Workspace.load(), run_id)
    deadline = time.time() + 60
    while run.get_status() != "Running":
        assert time.time() < deadline
        time.sleep(0.1)
    server = pool["servers"][0 if run.record["node"]["name"] == "n1" else 1]
    server.pause()
    try:
        run.wait_for_completion(raise_on_error=False, timeout=60)
        assert run.status == "Failed" and run.record["status_reason"].startswith("node lost"), run.record
        node_status = pool["roots"][pool["servers"].index(server)] / "runs" / run_id / "status.json"
        wait_until(lambda: json.loads(node_status.read_text()).get("state") == "Completed", timeout=60,
                   what="the job to finish on the silent node")  # the job finishes on the node meanwhile
    finally:
        server.pause(resume=True)
    close_all()
    attach = run_cli("runs", "attach", run_id)
    assert attach.returncode == 0, attach.stderr
    run = Run(Workspace.load(), run_id)
    assert run.status == "Completed" and (run.run_dir / "outputs" / "model.txt").is_file()
