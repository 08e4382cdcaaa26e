"""Multi-node runs on a 2-node SSH pool of real sshd servers on loopback."""

from __future__ import annotations

import json
import threading

from tests.conftest import run_cli, wait_until, write
from tests.integration.distributed_job import make_allreduce_project
from trainyard import Run, Workspace


def test_torch_gloo_allreduce_across_two_ssh_nodes(pool, tmp_path):
    """instance_count 2 on a 2-node pool: one rank per node, rank 0's node the master; ranks agree, each
    rank's log comes back, the run records both nodes."""
    out = run_cli("submit", str(make_allreduce_project(tmp_path, nodes=2, per_node=1)), "--compute", "pool",
                  "--json")
    assert out.returncode == 0, out.stderr
    details = json.loads(out.stdout)
    assert details["status"] == "Completed" and details["metrics"]["sum"] == 3.0, out.stderr
    run = Run(Workspace.load(), details["runId"])
    assert [n["name"] for n in run.record["nodes"]] == [run.record["node"]["name"], *(
        {"n1", "n2"} - {run.record["node"]["name"]})]
    for rank in (0, 1):
        assert f"rank {rank} of 2" in (run.run_dir / "logs" / f"rank_{rank}.txt").read_text()
        assert (run.run_dir / "outputs" / f"rank_{rank}.txt").read_text().split()[:2] == ["3", "2"]
    assert f"node {1}" in (run.run_dir / "logs" / "rank_1.txt").read_text()


FAIL_ONE = """\
import os, sys, time
if os.environ["RANK"] == "1":
    print("rank 1 gives up", flush=True)
    sys.exit(3)
time.sleep(120)
"""


def test_one_rank_failing_fails_the_run_and_stops_the_others(pool, tmp_path):
    """Rank 1 (on the other node) exits 3: the run fails naming that node, and rank 0 does not run on."""
    write(tmp_path / "src" / "fail.py", FAIL_ONE)
    job = write(tmp_path / "job.yml", "code: src\ncommand: python fail.py\nresources:\n  instance_count: 2\n"
                "distribution:\n  type: pytorch\n  process_count_per_instance: 1\n")
    out = run_cli("submit", str(job), "--compute", "pool", "--json", timeout=90)
    details = json.loads(out.stdout)
    assert details["status"] == "Failed", out.stderr
    record = Run(Workspace.load(), details["runId"]).record
    other = record["nodes"][1]["name"]
    assert f"the ranks on {other} ended Failed" in record["status_reason"]
    assert "rank 1 gives up" in (Run(Workspace.load(), details["runId"]).run_dir / "logs" / "rank_1.txt").read_text()
    assert record["ended"] - record["started"] < 60


RANKS = "import os\nprint('rank', os.environ['RANK'], 'of', os.environ['WORLD_SIZE'], flush=True)\n"


def test_waits_for_all_nodes_at_once_without_blocking_others(pool, tmp_path):
    """With one node busy, a 2-node run waits (saying why) holding no slot: a 1-node run submitted meanwhile
    starts on the free node at once; the 2-node run starts when both are free."""
    import subprocess

    from tests.conftest import TRAINYARD
    from tests.e2e.jobs import make_project

    # the busy run outlasts the gang's start and the quick run's whole submit, even on a loaded machine
    busy = json.loads(run_cli("submit", str(make_project(tmp_path / "busy")), "--compute", "pool", "--detach",
                              "--json", "--set", "inputs.sleep=12").stdout)["runId"]
    write(tmp_path / "src" / "ranks.py", RANKS)
    job = write(tmp_path / "job.yml", "code: src\ncommand: python ranks.py\nresources:\n  instance_count: 2\n")
    gang = subprocess.Popen([TRAINYARD, "submit", str(job), "--compute", "pool", "--json"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(gang.stderr.readline, "")), daemon=True)
    reader.start()
    wait_until(lambda: any("waiting for 2 free slots at once" in line for line in lines), timeout=60,
               what="the 2-node run to wait for both nodes")
    quick = run_cli("submit", str(make_project(tmp_path / "quick")), "--compute", "pool", "--json")
    assert quick.returncode == 0, quick.stderr  # the free node was not held by the waiting 2-node run
    assert Run(Workspace.load(), busy).get_status() in ("Running", "Preparing")
    gang.wait(timeout=120)
    reader.join(timeout=30)
    out, err = gang.stdout.read(), "".join(lines)
    assert gang.returncode == 0, err
    assert "waiting for 2 free slots at once on pool pool" in err
    details = json.loads(out)
    run = Run(Workspace.load(), details["runId"])
    busy_end = next(json.loads(p.read_text())["ended"] for root in pool["roots"]
                    for p in root.glob(f"runs/{busy}/status.json"))
    gang_starts = [json.loads((root / "runs" / run.id / "status.json").read_text())["started"]
                   for root in pool["roots"]]
    assert min(gang_starts) >= busy_end  # the ranks started only once both nodes were free
    assert "rank 1 of 2" in (run.run_dir / "logs" / "rank_1.txt").read_text()


def test_cancel_reaches_every_node(pool, tmp_path):
    """Cancel of a 2-node run stops the ranks on both nodes: every part ends Canceled."""
    write(tmp_path / "src" / "sleep.py", "import time\ntime.sleep(120)\n")
    job = write(tmp_path / "job.yml", "code: src\ncommand: python sleep.py\nresources:\n  instance_count: 2\n")
    out = run_cli("submit", str(job), "--compute", "pool", "--detach", "--json")
    assert out.returncode == 0, out.stderr
    run_id = json.loads(out.stdout)["runId"]
    run = Run(Workspace.load(), run_id)
    wait_until(lambda: run.get_status() == "Running", timeout=60, what="Running")
    assert run_cli("runs", "cancel", run_id).returncode == 0
    assert run.wait_for_completion(raise_on_error=False, timeout=60)["status"] == "Canceled"
    for root in pool["roots"]:
        assert json.loads((root / "runs" / run_id / "status.json").read_text())["state"] == "Canceled"
