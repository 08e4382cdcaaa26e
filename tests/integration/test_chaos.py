"""Bounded chaos on a 2-node pool: supervisors, jobs, sshd and clients killed at random points.

A fixed number of runs, a fixed seed for the choices and a fixed time budget. Afterwards every run ends in
a terminal state whose reason matches what was done to it, `runs attach` recovers every run whose node
still has it, and `trainyard check` finds nothing lost or corrupt in the store.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time

from tests.conftest import TRAINYARD, run_cli, wait_until
from tests.e2e.jobs import make_project
from tests.integration.conftest import set_config
from trainers.status import COMPLETED
from trainers.supervisor import is_alive
from trainyard import Workspace
from trainyard.runstore import RunStore

RUNS = 8
CHAOS_SECONDS = 25
SEED = 10


def node_runs(pool) -> dict[str, dict]:
    """run id → the node's status.json, for every run on either node."""
    out = {}
    for root in pool["roots"]:
        for path in root.glob("runs/*/status.json"):
            try:
                out[path.parent.name] = json.loads(path.read_text())
            except (OSError, ValueError):
                pass
    return out


def kill(pid: int | None, start: str | None = None) -> bool:
    if pid and is_alive(pid, start):
        try:
            os.kill(pid, signal.SIGKILL)
            return True
        except ProcessLookupError:
            pass
    return False


def test_chaos_every_run_ends_true_and_the_store_checks_clean(pool, tmp_path):
    """Kill supervisors, jobs, sshd and clients at random: true terminal states, attach recovers, check passes."""
    rng = random.Random(SEED)
    for n in pool["config"]["computes"]["pool"]["nodes"]:
        n.update(connect_timeout=2, command_timeout=10)
    set_config(tmp_path, pool["config"])
    job = make_project(tmp_path)
    clients = {}  # index → Popen of a `trainyard submit` (attached: it follows its run)
    for i in range(RUNS):
        clients[i] = subprocess.Popen(
            [TRAINYARD, "submit", str(job), "--compute", "pool", "--json", "--tag", f"chaos={i}",
             "--set", f"inputs.sleep={rng.uniform(1, 4):.1f}"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    done_to: dict[str, str] = {}  # run id → what was done to its supervisor or job
    killed_clients: set[int] = set()
    deadline = time.time() + CHAOS_SECONDS
    while time.time() < deadline and any(c.poll() is None for c in clients.values()):
        time.sleep(rng.uniform(0.3, 1.2))
        running = {r: s for r, s in node_runs(pool).items() if s.get("state") == "Running" and r not in done_to}
        action = rng.choices(["supervisor", "job", "sshd", "client", "nothing"], [2, 2, 1, 2, 2])[0]
        if action in ("supervisor", "job") and running:
            run_id = rng.choice(sorted(running))
            status = running[run_id]
            if action == "supervisor" and kill(status.get("supervisor_pid"), status.get("supervisor_start")):
                # the snapshot said Running, but the job may have ended and the supervisor recorded Completed
                # just before the kill landed: then the run stays Completed (a Failed seen here was written by
                # the node for the supervisor found gone, which is what the kill must cause)
                wait_until(lambda st=status: not is_alive(st["supervisor_pid"], st.get("supervisor_start")),
                           timeout=30, what="the killed supervisor to be gone")
                if node_runs(pool).get(run_id, {}).get("state") != COMPLETED:
                    done_to[run_id] = "supervisor"
            elif action == "job" and kill(status.get("pid"), status.get("pid_start")):
                done_to[run_id] = "job"
        elif action == "sshd":
            server = rng.choice(pool["servers"])
            server.stop()
            time.sleep(rng.uniform(0.2, 1.5))
            server.start()
        elif action == "client":  # only once its run is launched (an interrupted submit is issue 11's)
            launched = {int(r["tags"]["chaos"]) for r in RunStore(Workspace.load().root).list() if r.get("launched")}
            alive = [i for i, c in clients.items() if c.poll() is None and i in launched]
            if alive:
                i = rng.choice(alive)
                clients[i].send_signal(signal.SIGKILL)
                killed_clients.add(i)
    for server in pool["servers"]:
        if server.proc is None or server.proc.poll() is not None:
            server.start()
    errors = {i: c.communicate(timeout=180)[1] for i, c in clients.items()}
    runs = {int(r["tags"]["chaos"]): r for r in json.loads(run_cli("runs", "list", "--json", "-n", "100").stdout)}
    for i in set(clients) - set(runs):  # refused before a run existed (a node's sshd was down): said so
        assert clients[i].returncode == 1 and ("cannot connect" in errors[i] or "stopped answering" in errors[i]), \
            errors[i]
    assert runs and killed_clients <= set(runs), errors
    for r in runs.values():
        attach = run_cli("runs", "attach", r["run_id"], "--json", timeout=180)
        details = json.loads(attach.stdout)
        what = done_to.get(r["run_id"])
        reason = (details.get("error") or {}).get("message", "")
        if not r.get("launched"):  # sshd went away during the submit: Failed, saying so
            assert details["status"] == "Failed" and "submission failed" in reason, details
        elif what == "supervisor":
            assert details["status"] == "Failed" and "supervisor process is gone" in reason, (what, details)
        elif what == "job":
            assert details["status"] == "Failed" and "SIGKILL" in reason, (what, details)
        else:  # untouched, or only its client or an sshd was killed: attach completes it with its outputs
            assert details["status"] == "Completed", (what, reason, r["run_id"], details)
            assert "outputs/model.txt" in details["files"], details
    print(f"chaos: {len(runs)} runs, {len(killed_clients)} clients killed, done to runs: {done_to}")
    # nothing lost or corrupt: at most temp files of killed writers, which --repair removes, then check passes
    found = json.loads(run_cli("check", "--json", "--min-age", "0").stdout)["findings"]
    assert all(f["kind"] == "temp-file" and f["garbage"] for f in found), found
    assert run_cli("check", "--repair", "--min-age", "0").returncode == 0
    check = run_cli("check", "--json")
    assert check.returncode == 0, check.stdout
