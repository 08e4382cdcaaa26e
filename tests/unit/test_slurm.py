"""Slurm's pure parts: sbatch command lines, squeue/sacct parsing, and the state → status mapping."""

from __future__ import annotations

import json

import pytest

from trainers import supervisor
from trainers.distributed import rank_env, render_hostfile, render_job_argv
from trainers.slurm import parse_sacct, parse_squeue, render_batch_script, render_sbatch_argv
from trainyard.transport.slurm import merge_status

RUNNING_FILE = {"state": "Running", "reason": None}


def row(state, reason="None", **kw):
    return {"job_id": "42", "name": "trainyard-r1", "state": state, "reason": reason, "nodelist": "gpu7",
            "elapsed": "0:05", "time_limit": "10:00", "partition": "batch", **kw}


def test_sbatch_argv_owns_its_options_and_keeps_the_users():
    """Trainyard sets name, output, nodes, GPUs, time and signal; partition/account/qos and extra args follow."""
    argv = render_sbatch_argv("r1", "/shared/runs/r1", "/shared/runs/r1/batch.sh",
                              {"nodes": 2, "gpus_per_node": 4, "partition": "gpu", "account": "ml", "qos": "high",
                               "sbatch_args": ["--constraint=a100"]}, timeout=3600, grace=10)
    assert argv[0] == "sbatch" and argv[-1] == "/shared/runs/r1/batch.sh"
    for expected in ("--job-name=trainyard-r1", "--output=/shared/runs/r1/slurm-%j.out", "--nodes=2",
                     "--gpus-per-node=4", "--time=62", "--signal=B:USR1@60", "--partition=gpu", "--account=ml",
                     "--qos=high", "--constraint=a100"):
        assert expected in argv


def test_no_timeout_means_the_partitions_default_not_unlimited():
    """A job without limits.timeout passes no --time (the partition's DefaultTime applies)."""
    argv = render_sbatch_argv("r1", "/d", "/d/b.sh", {}, timeout=2592000, grace=10)
    assert not [a for a in argv if a.startswith("--time")]


def test_batch_script_is_the_supervisor():
    """The batch script has a #! line and execs the supervisor on the run directory."""
    script = render_batch_script("/shared/runs/r 1", "python3", "/shared/helper/abc")
    assert script.startswith("#!/bin/bash\n")
    assert "exec python3 -S -m trainers.supervisor '/shared/runs/r 1'" in script
    assert "PYTHONPATH=/shared/helper/abc" in script


def test_parse_squeue_and_sacct():
    """squeue rows by field; sacct rows by run with MaxRSS taken from the largest step."""
    assert parse_squeue("42|trainyard-r1|PENDING|Priority|||10:00|batch\ngarbage\n")[0]["reason"] == "Priority"
    acct = parse_sacct("42|trainyard-r1|COMPLETED|0:0|00:01:02||gpu7\n42.batch|batch|COMPLETED|0:0|00:01:02|"
                       "2048K|gpu7\n42.0|python|COMPLETED|0:0|00:01:00|1.5G|gpu7\n43|other|FAILED|1:0|0:01||n\n")
    assert acct == {"r1": {"JobID": "42", "JobName": "trainyard-r1", "State": "COMPLETED", "ExitCode": "0:0",
                           "Elapsed": "00:01:02", "NodeList": "gpu7", "MaxRSS": "1.5G"}}


@pytest.mark.parametrize("slurm, reason, expected, words", [
    ("PENDING", "Resources", "Queued", "Resources"),
    ("PENDING", "Priority", "Queued", "Priority"),
    ("CONFIGURING", "None", "Preparing", "configuring"),
    ("TIMEOUT", "None", "Failed", "time limit"),
    ("OUT_OF_MEMORY", "None", "Failed", "out of memory"),
    ("NODE_FAIL", "None", "Failed", "node failure: gpu7"),
    ("BOOT_FAIL", "None", "Failed", "boot failure"),
    ("FAILED", "None", "Failed", "slurm-42.out"),
    ("CANCELLED", "None", "Canceled", "scancel"),
    ("PREEMPTED", "None", "Queued", "requeued"),
    ("REQUEUED", "None", "Queued", "requeued"),
    ("SUSPENDED", "None", "Paused", "suspended"),
])
def test_slurm_states_map_to_azure_statuses(slurm, reason, expected, words):
    """Each Slurm state of a job whose supervisor has not recorded an end maps to an Azure status + cause."""
    state, why, cancel = merge_status({"state": "Queued", "reason": "submitting to Slurm"}, row(slurm, reason))
    assert state == expected and words in why and not cancel


def test_running_job_reports_the_supervisors_status():
    """RUNNING: the supervisor's own state (Preparing while it builds the environment, then Running)."""
    assert merge_status({"state": "Preparing", "reason": "env"}, row("RUNNING"))[:2] == ("Preparing", "env")
    assert merge_status(RUNNING_FILE, row("RUNNING"))[0] == "Running"
    assert merge_status({"state": "Queued"}, row("RUNNING"))[0] == "Preparing"


def test_reasons_that_never_clear_fail_fast_and_cancel_the_job():
    """PartitionTimeLimit can never clear: Failed at once, saying what to change, and the job is removed."""
    state, why, cancel = merge_status({"state": "Queued"}, row("PENDING", "PartitionTimeLimit"))
    assert state == "Failed" and "limits.timeout" in why and cancel


def test_status_file_is_the_truth_unless_the_scheduler_stopped_the_job():
    """A supervisor's end wins; one caused by Slurm's SIGTERM takes Slurm's final state instead."""
    done = {"state": "Completed", "reason": None}
    assert merge_status(done, row("COMPLETED"))[0] == "Completed"
    stopped = {"state": "Canceled", "reason": "stopped by SIGTERM", "scheduler_signal": True}
    assert merge_status(stopped, row("NODE_FAIL"))[0] == "Failed"
    assert merge_status(stopped, row("PENDING", "BeginTime"))[0] == "Queued"
    assert merge_status(stopped, row("COMPLETING"))[0] == "Running"  # not final yet: wait for Slurm
    assert merge_status(stopped, row("CANCELLED"))[0] == "Canceled"
    assert merge_status(stopped, row("FAILED"))[0] == "Failed"  # a requeued attempt that Slurm failed


def test_requeued_attempt_never_shows_the_previous_attempts_end(tmp_path, monkeypatch):
    """A requeued job's new supervisor replaces the killed attempt's end in its first write: no status it
    writes, merged with squeue's RUNNING row, is terminal (the control plane would take it as the run's end)."""
    (tmp_path / "job.json").write_text(json.dumps({"root": str(tmp_path), "environment": {}, "python": "python3"}))
    (tmp_path / "status.json").write_text(json.dumps(
        {"state": "Canceled", "reason": "stopped by SIGTERM from the scheduler", "scheduler_signal": True,
         "ended": 1.0, "exit_code": -15}))
    (tmp_path / "cancel").write_text("SIGTERM")
    written = []
    monkeypatch.setattr(supervisor, "write_json_atomic", lambda path, status: written.append(dict(status)))

    class Stop(Exception):
        pass

    def stop_at_the_environment(*_args):
        raise Stop

    monkeypatch.setattr(supervisor, "ensure_env", stop_at_the_environment)
    monkeypatch.setattr(supervisor.signal, "signal", lambda *_: None)
    monkeypatch.setenv("SLURM_RESTART_COUNT", "1")
    with pytest.raises(Stop):
        supervisor.Supervisor(tmp_path).main()
    assert written and not (tmp_path / "cancel").exists()
    for status in written:
        state, reason, _ = merge_status(status, row("RUNNING"))
        assert state not in ("Canceled", "Failed", "Completed"), (status, reason)
    assert "restart 1" in written[0]["reason"] and "ended" not in written[0]


def test_unknown_to_squeue_and_file_is_not_responding_then_failed():
    """A job neither squeue nor the status file knows: NotResponding, then Failed on the next poll."""
    assert merge_status(RUNNING_FILE, None)[0] == "NotResponding"
    state, why, _ = merge_status(RUNNING_FILE, None, known="NotResponding")
    assert state == "Failed" and "no longer knows" in why


def test_rank_environment_as_azure_sets_it():
    """RANK = node_rank * per_node + local_rank; WORLD_SIZE = nodes * per_node."""
    env = rank_env(node_rank=1, local_rank=1, nproc=2, nnodes=2, master_addr="n0", master_port=29500)
    assert env["RANK"] == "3" and env["WORLD_SIZE"] == "4" and env["LOCAL_RANK"] == "1"
    assert env["NODE_RANK"] == "1" and env["MASTER_ADDR"] == "n0" and env["MASTER_PORT"] == "29500"


def test_distributed_argv_srun_on_slurm_mpirun_for_mpi():
    """On Slurm the launcher runs once per node through srun; MPI jobs get mpirun over a hostfile."""
    job = {"command": "python t.py", "distribution": {"type": "pytorch", "instance_count": 2,
                                                      "process_count_per_instance": 4}, "slurm": {"nodes": 2}}
    argv = render_job_argv(job, "/r", "python3", "/h", "n0", 1234)
    assert argv[:5] == ["srun", "--nodes=2", "--ntasks=2", "--ntasks-per-node=1", "--kill-on-bad-exit=1"]
    assert "--node-rank-env" in argv and argv[-1] == "python t.py"
    mpi = render_job_argv({**job, "distribution": {**job["distribution"], "type": "mpi"}}, "/r", "python3", "/h",
                          "n0", 1)
    assert mpi[:6] == ["mpirun", "--hostfile", "/r/hostfile", "-np", "8", "--output-filename"]
    assert render_hostfile(["n0", "n1"], 4) == "n0 slots=4\nn1 slots=4\n"


def test_v1_distributed_configs_give_the_job_spec_distribution(tmp_path):
    """PyTorchConfiguration(process_count, node_count) and MpiConfiguration map to job.yml's distribution."""
    from trainyard import MpiConfiguration, PyTorchConfiguration, ScriptRunConfig
    from trainyard.errors import JobSpecError

    (tmp_path / "t.py").write_text("")
    spec = ScriptRunConfig(str(tmp_path), "t.py", distributed_job_config=PyTorchConfiguration(
        process_count=4, node_count=2)).to_job_spec()
    assert spec.instance_count == 2
    assert spec.distribution == {"type": "pytorch", "instance_count": 2, "process_count_per_instance": 2}
    mpi = ScriptRunConfig(str(tmp_path), "t.py", distributed_job_config=MpiConfiguration(3, 2)).to_job_spec()
    assert mpi.distribution == {"type": "mpi", "instance_count": 2, "process_count_per_instance": 3}
    with pytest.raises(JobSpecError, match="multiple of node_count"):
        PyTorchConfiguration(process_count=3, node_count=2).to_distribution()


class FakeLogin:
    """A login node handle that answers the helper's Slurm verbs from a table and counts the calls."""

    name = "login"
    python = "/usr/bin/python3"

    def __init__(self, jobs: dict, status: dict):
        self.jobs, self.status, self.calls = jobs, status, []

    def call(self, verb: str, payload: dict) -> dict:
        self.calls.append(verb)
        if verb == "slurm_queue":
            return {"jobs": dict(self.jobs)}
        if verb == "slurm_accounting":
            return {"accounting": {}}
        if verb == "poll":
            return {**self.status[payload["run_id"]], "chunks": {}}
        return {}


def test_slurm_node_job_carries_the_computes_and_the_jobs_resources():
    """partition/account/qos/sbatch_args from the compute, GPUs and nodes from the job, no node slots;
    several processes per node ask for that many CPUs; env_root builds environments node-locally."""
    from trainyard.transport.slurm import SlurmNode

    node = SlurmNode(FakeLogin({}, {}), {"partition": "gpu", "account": "ml", "sbatch_args": ["--exclusive"],
                                          "env_root": "/scratch/envs"})
    job = node.render_job({"command": "x", "gpus": 2, "slots": 1, "distribution": {
        "type": "pytorch", "instance_count": 4, "process_count_per_instance": 2}})
    assert "slots" not in job and job["env_root"] == "/scratch/envs"
    assert job["slurm"] == {"partition": "gpu", "account": "ml", "sbatch_args": ["--exclusive"], "python": "python3",
                            "nodes": 4, "gpus_per_node": 2, "cpus_per_task": 2}


def test_polls_of_many_runs_share_one_squeue():
    """Polling 50 active runs within the snapshot's age costs one squeue; a run missing from the snapshot
    (submitted after it) is looked up again once."""
    from trainyard.transport.slurm import SlurmNode

    ids = [f"r{i}" for i in range(50)]
    login = FakeLogin({r: row("PENDING", "Priority") for r in ids}, {r: {"state": "Queued"} for r in ids})
    node = SlurmNode(login, {"queue_max_age": 60})
    answers = [node.call("poll", {"run_id": r}) for r in ids]
    assert login.calls.count("slurm_queue") == 1
    assert {a["state"] for a in answers} == {"Queued"} and "Priority" in answers[0]["reason"]
    login.status["new"] = {"state": "Queued"}
    login.jobs["new"] = row("PENDING", "Resources")
    assert "Resources" in node.call("poll", {"run_id": "new"})["reason"]
    assert login.calls.count("slurm_queue") == 2
