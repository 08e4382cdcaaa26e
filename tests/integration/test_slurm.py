"""Slurm computes against a real single-node Slurm cluster reached through a real sshd login node."""

from __future__ import annotations

import json
import subprocess
import sys
import time

from tests.conftest import REPO, run_cli, wait_until, write
from tests.e2e.jobs import make_project
from tests.integration.conftest import set_config
from tests.integration.distributed_job import make_allreduce_project
from trainyard import ComputeTarget, Run, Workspace


def submit(job, *args):
    return run_cli("submit", str(job), "--compute", "hpc", *args)


def test_job_completes_on_slurm(hpc, tmp_path):
    """A job sbatch'ed through the login node completes: metrics, outputs, model, Slurm's job recorded."""
    job = make_project(tmp_path)
    out = submit(job, "--json")
    assert out.returncode == 0, out.stderr
    details = json.loads(out.stdout)
    assert details["status"] == "Completed" and details["modelId"] == "e2e-model:1", out.stderr
    assert details["metrics"]["accuracy"] == 0.875
    run = Run(Workspace.load(), details["runId"])
    assert (run.run_dir / "outputs" / "model.txt").read_text() == "weights"
    assert run.record["slurm"]["job_id"].isdigit()
    assert (hpc["root"] / "runs" / details["runId"] / "batch.sh").read_text().startswith("#!/bin/bash")


def detached(job, *args) -> str:
    out = submit(job, "--detach", "--json", *args)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)["runId"]


def status_of(run_id):
    run = Run(Workspace.load(), run_id)
    run.refresh()
    return run.record


def fill_partition(cluster) -> str:
    """A job holding every CPU of the cluster's only node, so the next job must wait for Resources."""
    return cluster.command("sbatch", "--parsable", f"--cpus-per-task={cluster.cpus}", "--output=/dev/null",
                           "--wrap", "sleep 300").strip()


def test_pending_shows_slurm_reason_and_cancel_while_pending(hpc, tmp_path):
    """With the partition full the run is Queued with Slurm's reason; cancel removes the pending job."""
    cluster = hpc["cluster"]
    blocker = fill_partition(cluster)
    wait_until(lambda: cluster.command("squeue", "-h", "-j", blocker, "-o", "%T").strip() == "RUNNING",
               what="the blocking job to run")
    run_id = detached(make_project(tmp_path))
    record = wait_until(lambda: (r := status_of(run_id))["status"] == "Queued" and "Resources" in
                        (r.get("status_reason") or "") and r, what="Queued with reason Resources")
    assert "pending in Slurm partition debug" in record["status_reason"]
    out = run_cli("runs", "cancel", run_id)
    assert out.returncode == 0, out.stderr
    assert wait_until(lambda: status_of(run_id)["status"] == "Canceled", what="Canceled")
    assert cluster.command("squeue", "-h", "--name", f"trainyard-{run_id}", "-t", "PENDING,RUNNING").strip() == ""


def test_cancel_while_running(hpc, tmp_path):
    """Cancel of a running Slurm job: the supervisor stops the job and records Canceled; the job ends."""
    run_id = detached(make_project(tmp_path), "--set", "inputs.sleep=60")
    wait_until(lambda: status_of(run_id)["status"] == "Running", what="Running")
    out = run_cli("runs", "cancel", run_id)
    assert out.returncode == 0, out.stderr
    record = wait_until(lambda: (r := status_of(run_id))["status"] in ("Canceled", "Failed", "Completed") and r,
                        what="a terminal status")
    assert record["status"] == "Canceled" and record["status_reason"] == "canceled by the user"
    wait_until(lambda: hpc["cluster"].command("squeue", "-h", "--name", f"trainyard-{run_id}",
                                              "-t", "PENDING,RUNNING").strip() == "", what="the job to end")


def test_scancel_by_hand_is_canceled_not_running(hpc, tmp_path):
    """A plain `scancel` of the job (not through Trainyard) never leaves the run Running."""
    run_id = detached(make_project(tmp_path), "--set", "inputs.sleep=60")
    wait_until(lambda: status_of(run_id)["status"] == "Running", what="Running")
    hpc["cluster"].command("scancel", "--name", f"trainyard-{run_id}")
    record = wait_until(lambda: (r := status_of(run_id))["status"] in ("Canceled", "Failed") and r,
                        what="a terminal status")
    assert record["status"] == "Canceled", record


def test_timeout_fails_with_time_limit(hpc, tmp_path):
    """limits.timeout → Failed "time limit"; sbatch got a --time covering it (never UNLIMITED)."""
    job = make_project(tmp_path, timeout=3)
    out = submit(job, "--set", "inputs.sleep=60", "--json")
    assert out.returncode == 3  # the run failed
    details = json.loads(out.stdout)
    record = Run(Workspace.load(), details["runId"]).record
    assert record["status"] == "Failed" and "time limit" in record["status_reason"]
    sbatch = json.loads((hpc["root"] / "runs" / details["runId"] / "slurm.json").read_text())["sbatch"]
    assert "--time=2" in sbatch


def test_partition_time_limit_fails_fast(hpc, tmp_path):
    """A job whose time limit is over the partition's MaxTime can never start: Failed at once, job removed."""
    run_id = detached(make_project(tmp_path, timeout=7200))
    record = wait_until(lambda: (r := status_of(run_id))["status"] == "Failed" and r, what="Failed")
    reason = record["status_reason"]
    assert "Slurm will never start this job" in reason
    # Slurm names the time limit; on a loaded machine it has also named PartitionConfig first (seen once in CI)
    assert ("PartitionTimeLimit" in reason and "limits.timeout" in reason) or "PartitionConfig" in reason, reason
    wait_until(lambda: hpc["cluster"].command("squeue", "-h", "--name", f"trainyard-{run_id}",
                                              "-t", "PENDING").strip() == "", what="the job to be removed")


def test_twenty_runs_cost_one_squeue_per_poll(hpc, tmp_path):
    """20 runs in flight: refreshing all of them (`runs list`) costs one squeue call, not 20."""
    hpc["config"]["computes"]["hpc"]["queue_max_age"] = 5.0  # one poll round, on a loaded CI machine
    set_config(tmp_path, hpc["config"])
    job = make_project(tmp_path)
    ws = Workspace.load()
    from trainyard.jobspec import parse_job_file
    from trainyard.submission import submit as submit_spec

    spec = parse_job_file(job)
    spec.compute = "hpc"
    spec.inputs["sleep"].value = 3
    run_ids = [submit_spec(ws, spec) for _ in range(20)]
    calls = hpc["calls"]
    calls.write_text("")
    time.sleep(5.1)  # past the queue snapshot's max age
    out = run_cli("runs", "list", "--json", "-n", "50")
    assert out.returncode == 0, out.stderr
    listed = {r["run_id"]: r["status"] for r in json.loads(out.stdout)}
    assert set(run_ids) <= set(listed)
    assert len(calls.read_text().splitlines()) == 1
    wait_until(lambda: all(status_of(r)["status"] == "Completed" for r in run_ids), timeout=120,
               what="all 20 runs to complete")


def test_node_drained_during_run_completes_and_new_runs_wait(hpc, tmp_path):
    """Draining the node lets the running job finish (Completed, outputs pulled); a job submitted then
    stays Queued with Slurm's reason until the node is resumed."""
    cluster = hpc["cluster"]
    job = make_project(tmp_path)
    running = detached(job, "--set", "inputs.sleep=4")
    wait_until(lambda: status_of(running)["status"] == "Running", what="Running")
    cluster.command("scontrol", "update", f"nodename={cluster.host}", "state=drain", "reason=maintenance")
    waiting = detached(job)
    record = wait_until(lambda: (r := status_of(waiting))["status"] == "Queued" and "pending in Slurm" in
                        (r.get("status_reason") or "") and r, what="the new run Queued")
    assert wait_until(lambda: status_of(running)["status"] == "Completed", what="the drained node's run to end")
    assert (Run(Workspace.load(), running).run_dir / "outputs" / "model.txt").is_file()
    assert status_of(waiting)["status"] == "Queued", record
    cluster.command("scontrol", "update", f"nodename={cluster.host}", "state=resume")
    assert wait_until(lambda: status_of(waiting)["status"] == "Completed", what="the waiting run to run")


def test_node_down_during_run_requeues_then_completes(hpc, tmp_path):
    """The node going down kills the job; Slurm requeues it: the run shows Queued (never stuck Running),
    and completes when the node comes back."""
    cluster = hpc["cluster"]
    run_id = detached(make_project(tmp_path), "--set", "inputs.sleep=6")
    wait_until(lambda: status_of(run_id)["status"] == "Running", what="Running")
    cluster.command("scontrol", "update", f"nodename={cluster.host}", "state=down", "reason=hardware")
    record = wait_until(lambda: (r := status_of(run_id))["status"] == "Queued" and r, what="Queued again")
    assert "requeued by Slurm" in record["status_reason"] or "pending in Slurm" in record["status_reason"]
    cluster.command("scontrol", "update", f"nodename={cluster.host}", "state=resume", check=False)  # (or back)
    # Slurm holds a requeued job for two minutes (BeginTime); release it sooner (not at once: the killed
    # attempt's credential must expire first, or Slurm fails the restart)
    cluster.command("scontrol", "update", f"jobid={record['slurm']['job_id']}", "StartTime=now+5")
    record = wait_until(lambda: (r := status_of(run_id))["status"] in ("Completed", "Failed", "Canceled") and r,
                        what="the end", timeout=90)
    history = [(h["status"], h["reason"]) for h in record["history"]]
    assert record["status"] == "Completed", history
    assert [status for status, _ in history].count("Running") >= 2, history


def test_node_down_without_requeue_fails_with_node_failure(hpc, tmp_path):
    """With requeue off (--sbatch-arg --no-requeue), the node going down fails the run naming the cause."""
    hpc["config"]["computes"]["hpc"]["sbatch_args"] = ["--no-requeue"]
    set_config(tmp_path, hpc["config"])
    cluster = hpc["cluster"]
    run_id = detached(make_project(tmp_path), "--set", "inputs.sleep=60")
    wait_until(lambda: status_of(run_id)["status"] == "Running", what="Running")
    cluster.command("scontrol", "update", f"nodename={cluster.host}", "state=down", "reason=hardware")
    record = wait_until(lambda: (r := status_of(run_id))["status"] in ("Failed", "Canceled", "Completed") and r,
                        what="the fate")
    assert record["status"] == "Failed" and "node failure" in record["status_reason"], record


def test_torch_gloo_allreduce_two_processes_on_slurm(hpc, tmp_path):
    """A 2-process torch.distributed (gloo) job through srun: ranks agree on the all-reduce, logs per rank,
    metrics from rank 0."""
    out = submit(make_allreduce_project(tmp_path, nodes=1, per_node=2), "--json")
    assert out.returncode == 0, out.stderr
    details = json.loads(out.stdout)
    assert details["status"] == "Completed" and details["metrics"]["sum"] == 3.0, out.stderr
    run = Run(Workspace.load(), details["runId"])
    assert [(run.run_dir / "outputs" / f"rank_{r}.txt").read_text().split()[:2] for r in (0, 1)] == [["3", "2"]] * 2
    for rank in (0, 1):
        assert f"rank {rank} of 2" in (run.run_dir / "logs" / f"rank_{rank}.txt").read_text()
    assert (run.run_dir / "metrics.jsonl").read_text().count('"sum"') == 1  # rank 0's; rank 1's stays apart
    assert (run.run_dir / "logs" / "metrics_rank_1.jsonl").is_file()


def test_iris_template_on_slurm(hpc, tmp_path):
    """The iris-svm template, scaffolded as a user would, trains on Slurm with its real environment (built
    once on the shared root) and registers its model."""
    made = subprocess.run([sys.executable, "-m", "scripts.scaffold", "iris-svm", "-o", str(tmp_path / "iris")],
                          cwd=REPO, capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    out = submit(tmp_path / "iris" / "job.yml", "--json")
    assert out.returncode == 0, out.stderr
    details = json.loads(out.stdout)
    assert round(details["metrics"]["Accuracy"], 4) == 0.9737 and details["modelId"] == "sklearn-iris:1"
    env = Run(Workspace.load(), details["runId"]).record["environment"]
    assert env["python"].startswith(str(hpc["root"] / "envs"))


READ_INPUT = """\
import os, sys
from trainers import Run
run = Run.get_context()
folder = sys.argv[1]
assert folder == run.input_datasets["d"] == os.environ["TRAINYARD_INPUT_D"]
run.log("bytes", sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder)))
"""


def test_dataset_job_on_slurm_syncs_once_per_cluster(hpc, tmp_path):
    """A registered dataset reaches the shared root once: a second run on the cluster sends none of it."""
    for i in range(4):
        write(tmp_path / "data" / f"part{i}.bin", f"{i}" * 50_000)
    assert run_cli("datasets", "register", "d", str(tmp_path / "data")).returncode == 0
    write(tmp_path / "src" / "read.py", READ_INPUT)
    job = write(tmp_path / "job.yml", "code: src\ncommand: python read.py ${{inputs.d}}\n"
                "inputs:\n  d:\n    type: uri_folder\n    path: dataset:d@latest\n    mode: ro_mount\n")
    first, second = (json.loads(submit(job, "--json").stdout) for _ in range(2))
    assert first["metrics"] == second["metrics"] == {"bytes": 200_000}
    ws = Workspace.load()
    sent = [Run(ws, r["runId"]).record["bytes_sent"] for r in (first, second)]
    assert sent[0] > 200_000 and sent[1] == 0


def test_compute_attach_slurm_and_status(hpc, tmp_path):
    """`compute attach --slurm` pins the login node and checks Slurm; `compute status` shows partitions,
    nodes by state, queue length and the user's jobs."""
    login = hpc["login"]
    base = ["compute", "attach", "cluster", "--slurm", "--host", "127.0.0.1", "--port", str(login.port), "--user",
            "root", "--identity", str(hpc["key"]), "--root", str(tmp_path / "shared2"),
            *[f"--env={k}={v}" for k, v in hpc["env"].items()]]
    refused = run_cli(*base)
    assert refused.returncode == 1 and "--accept-host-key SHA256:" in refused.stderr
    fp = refused.stderr.split("--accept-host-key ")[1].split()[0]
    wrong = run_cli(*base, "--accept-host-key", fp, "--partition", "gpu")
    assert wrong.returncode == 1 and "no partition 'gpu'" in wrong.stderr and "debug" in wrong.stderr
    ok = run_cli(*base, "--accept-host-key", fp, "--partition", "debug", "--sbatch-arg=--comment=ty")
    assert ok.returncode == 0, ok.stderr
    config = json.loads((tmp_path / ".trainyard" / "config.json").read_text())["computes"]["cluster"]
    assert config["type"] == "slurm" and config["sbatch_args"] == ["--comment=ty"]
    assert config["nodes"][0]["host_key"] == login.host_key
    blocker = fill_partition(hpc["cluster"])
    status = json.loads(run_cli("compute", "status", "cluster", "--json").stdout)[0]
    assert status["reachable"] and status["partitions"][0]["name"] == "debug"
    assert status["queue_length"] == 1 and status["my_running"] + status["my_pending"] == 1
    target = ComputeTarget(Workspace.load(), "cluster")  # v1's name finds it too
    assert target.type == "slurm" and target.get_status()["partition"] == "debug"
    text = run_cli("compute", "status", "cluster")
    assert text.returncode == 0 and "debug*" in text.stdout and "PARTITION" in text.stdout
    hpc["cluster"].command("scancel", blocker)


def test_suspended_job_is_paused_then_runs_again(hpc, tmp_path):
    """`scontrol suspend` → Paused; `scontrol resume` → Running again, then Completed."""
    cluster = hpc["cluster"]
    run_id = detached(make_project(tmp_path), "--set", "inputs.sleep=5")
    record = wait_until(lambda: (r := status_of(run_id))["status"] == "Running" and r, what="Running")
    job_id = record["slurm"]["job_id"]
    cluster.command("scontrol", "suspend", job_id)
    record = wait_until(lambda: (r := status_of(run_id))["status"] == "Paused" and r, what="Paused")
    assert "suspended by Slurm" in record["status_reason"]
    cluster.command("scontrol", "resume", job_id)
    assert wait_until(lambda: status_of(run_id)["status"] == "Completed", what="Completed")


def test_slurm_time_limit_warning_fails_the_run_with_time_limit(hpc, tmp_path):
    """A job that reaches Slurm's own time limit (--time from the compute's sbatch args, no limits.timeout):
    Slurm's USR1 warning makes the supervisor stop it and record Failed "time limit"."""
    hpc["config"]["computes"]["hpc"]["sbatch_args"] = ["--time=1"]
    set_config(tmp_path, hpc["config"])
    make_project(tmp_path)
    job = write(tmp_path / "job.yml", "code: src\ncommand: python train.py --sleep 300\n")
    started = time.time()
    details = json.loads(submit(job, "--json").stdout)
    print(f"time limit reached after {time.time() - started:.0f} s")
    record = Run(Workspace.load(), details["runId"]).record
    assert record["status"] == "Failed" and "time limit" in record["status_reason"], record


def test_controller_outage_is_not_responding_then_resumes(hpc, tmp_path):
    """slurmctld down mid-run: squeue fails, the run shows NotResponding; back up, the run completes."""
    cluster = hpc["cluster"]
    run_id = detached(make_project(tmp_path), "--set", "inputs.sleep=8")
    wait_until(lambda: status_of(run_id)["status"] == "Running", what="Running")
    cluster.stop_controller()
    try:
        record = wait_until(lambda: (r := status_of(run_id))["status"] == "NotResponding" and r,
                            what="NotResponding", timeout=90)
        assert "Slurm does not answer" in record["status_reason"]
    finally:
        cluster.start_controller()
    assert wait_until(lambda: status_of(run_id)["status"] == "Completed", what="Completed", timeout=90)
