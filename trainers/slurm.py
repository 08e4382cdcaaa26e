"""Slurm on the login node (standard library only): the node helper's Slurm steps.

The login node's helper root is the cluster's shared directory, so blobs, environments and run
directories sync there once per cluster. ``launch`` writes the run's ``job.json`` as for a pool, then
``sbatch`` runs a batch script whose body is the run's supervisor (``trainers.supervisor``): statuses,
logs, metrics, outputs, cancel and timeout behave as on a pool. ``queue`` answers for every Trainyard
job of the user with ONE ``squeue`` call (plus ``sacct`` where the cluster keeps accounting).

Jobs are named ``trainyard-<run_id>``, so a run's job is found by name, without a job id file.
"""

from __future__ import annotations

import math
import os
import pwd
import shlex
import shutil
import subprocess
import time
from pathlib import Path

from ._atomic import read_json, write_bytes_atomic, write_json_atomic
from .objects import NodeError
from .status import FAILED, QUEUED, TERMINAL
from .supervisor import TRAINERS_PARENT

SCHEDULER = "slurm"  # status.json's "scheduler" for runs whose supervisor Slurm starts
JOB_PREFIX = "trainyard-"
TIME_LIMIT_WARNING = 60  # seconds before Slurm's time limit at which the supervisor hears SIGUSR1
SQUEUE_FORMAT = "%i|%j|%T|%r|%N|%M|%l|%P"
SQUEUE_FIELDS = ("job_id", "name", "state", "reason", "nodelist", "elapsed", "time_limit", "partition")
SACCT_FIELDS = ("JobID", "JobName", "State", "ExitCode", "Elapsed", "MaxRSS", "NodeList")
DEFAULT_TIMEOUT = 2592000  # the job spec's default (30 days): "no timeout given"
VERBS = {"slurm_info", "slurm_queue", "slurm_settle", "slurm_accounting"}


def job_name(run_id: str) -> str:
    return JOB_PREFIX + run_id


def render_batch_script(run_dir: str, python: str, trainers_parent: str = TRAINERS_PARENT) -> str:
    """The batch script sbatch runs: its body is the run's supervisor (pure)."""
    return (f"#!/bin/bash\n"
            f"# Trainyard run {Path(run_dir).name}: the supervisor records status, logs and the job's fate.\n"
            f"export PYTHONPATH={shlex.quote(trainers_parent)}\n"
            f"exec {shlex.quote(python)} -S -m trainers.supervisor {shlex.quote(run_dir)}\n")


def render_sbatch_argv(run_id: str, run_dir: str, script: str, slurm: dict, timeout: int | None,
                       grace: float) -> list[str]:
    """The sbatch command line (pure). Trainyard owns the job name, output files, nodes, GPUs, time and
    signal; partition/account/qos/cpus/memory come from the compute or the job, anything else from
    ``sbatch_args``."""
    nodes = int(slurm.get("nodes") or 1)
    argv = ["sbatch", "--parsable", f"--job-name={job_name(run_id)}", f"--output={run_dir}/slurm-%j.out",
            f"--error={run_dir}/slurm-%j.out", f"--chdir={run_dir}", f"--nodes={nodes}",
            "--ntasks-per-node=1", f"--signal=B:USR1@{TIME_LIMIT_WARNING}"]
    if slurm.get("gpus_per_node"):
        argv.append(f"--gpus-per-node={int(slurm['gpus_per_node'])}")
    if slurm.get("cpus_per_task"):
        argv.append(f"--cpus-per-task={int(slurm['cpus_per_task'])}")
    if slurm.get("mem"):
        argv.append(f"--mem={slurm['mem']}")
    if timeout and int(timeout) != DEFAULT_TIMEOUT:
        # minutes, leaving the supervisor time to stop the job and write its status before Slurm kills it
        argv.append(f"--time={math.ceil((int(timeout) + grace + TIME_LIMIT_WARNING + 30) / 60)}")
    for key in ("partition", "account", "qos"):
        if slurm.get(key):
            argv.append(f"--{key}={slurm[key]}")
    argv += [str(a) for a in slurm.get("sbatch_args") or []]
    return [*argv, script]


def launch(node, payload: dict) -> dict:
    """Write the run's job and status files, then ``sbatch`` its batch script (on the login node)."""
    run_id = payload["run_id"]
    run_dir = node.run_dir(run_id)
    job = {**payload["job"], "root": str(node.root)}
    slurm = job["slurm"]
    python = slurm.get("python") or "python3"
    job["python"] = job.get("python") or shutil.which(python) or python  # compute nodes share /usr with us
    write_json_atomic(run_dir / "job.json", job)
    write_json_atomic(run_dir / "status.json", {"state": QUEUED, "reason": "submitting to Slurm",
                                                "scheduler": SCHEDULER, "history": [], "updated": time.time()})
    script = run_dir / "batch.sh"
    write_bytes_atomic(script, render_batch_script(str(run_dir), python).encode(), mode=0o755)
    argv = render_sbatch_argv(run_id, str(run_dir), str(script), slurm, job.get("timeout"),
                              float(job.get("grace_seconds", 10)))
    out = _run(argv)
    if out.returncode:
        write_json_atomic(run_dir / "status.json", {"state": FAILED, "scheduler": SCHEDULER, "updated": time.time(),
                                                    "reason": f"sbatch refused the job: {out.stderr.strip()}"})
        raise NodeError(f"sbatch refused the job ({shlex.join(argv[:-1])}): {out.stderr.strip()}")
    job_id = out.stdout.strip().split(";")[0]
    write_json_atomic(run_dir / "slurm.json", {"job_id": job_id, "sbatch": argv})
    return {"slurm_job_id": job_id}


def cancel(node, payload: dict) -> dict:
    """Cancel a run's job: a running supervisor gets SIGTERM (it stops the job and records Canceled); a
    job still pending is removed from the queue with ``scancel``."""
    run_dir = node.run_dir(payload["run_id"])
    status = read_json(run_dir / "status.json") or {}
    if status.get("state") in TERMINAL:
        return {"state": status["state"], "requested": False}
    (run_dir / "cancel").write_text(payload.get("reason") or "canceled by the user")
    name = job_name(payload["run_id"])
    if status.get("supervisor_pid"):  # the batch step runs: let the supervisor end it, then make sure
        _run(["scancel", "--batch", "--signal=TERM", f"--name={name}", "--me"])
        grace = float((read_json(run_dir / "job.json") or {}).get("grace_seconds", 10)) + 30
        subprocess.Popen(["sh", "-c", 'sleep "$1"; exec scancel --me --name="$2"', "scancel-later", str(grace), name],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True)
    else:
        _run(["scancel", f"--name={name}", "--me"])
    return {"state": status.get("state"), "requested": True}


def slurm_queue(node, payload: dict) -> dict:
    """Every Trainyard job of this user from one ``squeue`` call (pending, running and recently ended),
    in one call."""
    out = _run(["squeue", "--me", "--noheader", "--states=all", f"--format={SQUEUE_FORMAT}"])
    if out.returncode:
        raise NodeError(f"squeue failed: {out.stderr.strip()}")
    jobs = {}
    for job in parse_squeue(out.stdout):
        if job["name"].startswith(JOB_PREFIX):
            jobs[job["name"][len(JOB_PREFIX):]] = job
    return {"jobs": jobs, "time": time.time()}


def slurm_accounting(node, payload: dict) -> dict:
    """sacct's record of each run's job (State, ExitCode, Elapsed, MaxRSS, NodeList), or {} where the
    cluster keeps no accounting."""
    names = ",".join(job_name(r) for r in payload["run_ids"])
    out = _run(["sacct", "--noheader", "--parsable2", f"--name={names}", f"--format={','.join(SACCT_FIELDS)}"])
    if out.returncode:
        return {"accounting": {}}
    return {"accounting": parse_sacct(out.stdout)}


def parse_squeue(text: str) -> list[dict]:
    jobs = []
    for line in text.splitlines():
        parts = line.strip().split("|")
        if len(parts) == len(SQUEUE_FIELDS):
            jobs.append(dict(zip(SQUEUE_FIELDS, parts, strict=True)))
    return jobs


def parse_sacct(text: str) -> dict:
    """Run id → the allocation's row, with MaxRSS taken from its steps (pure)."""
    by_job: dict[str, dict] = {}
    names: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split("|")
        if len(parts) != len(SACCT_FIELDS):
            continue
        row = dict(zip(SACCT_FIELDS, parts, strict=True))
        base = row["JobID"].split(".")[0]
        if "." not in row["JobID"]:
            names[base] = row["JobName"]
            by_job.setdefault(base, {}).update({k: v for k, v in row.items() if k != "MaxRSS" or v})
        elif row["MaxRSS"]:
            by_job.setdefault(base, {})["MaxRSS"] = max(row["MaxRSS"], by_job[base].get("MaxRSS", ""),
                                                        key=_rss_bytes)
    return {names[j][len(JOB_PREFIX):]: row for j, row in by_job.items() if names.get(j, "").startswith(JOB_PREFIX)}


def _rss_bytes(text: str) -> float:
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    if not text:
        return 0
    return float(text[:-1]) * units[text[-1]] if text[-1] in units else float(text)


def slurm_settle(node, payload: dict) -> dict:
    """Record a fate Slurm decided (the supervisor could not: killed, never started) in the run's status
    file, unless the supervisor already wrote one."""
    path = node.run_dir(payload["run_id"]) / "status.json"
    status = read_json(path) or {}
    if status.get("state") in TERMINAL:
        return {"state": status["state"]}
    now = time.time()
    status.setdefault("history", []).append({"state": payload["state"], "time": now, "reason": payload["reason"]})
    status.update(state=payload["state"], reason=payload["reason"], updated=now, ended=now)
    write_json_atomic(path, status)
    return {"state": payload["state"]}


def slurm_info(node, payload: dict) -> dict:
    """Partitions, nodes by state, queue length and the user's running and pending jobs."""
    fmt = "%P|%a|%l|%L|%D|%T|%G"
    out = _run(["sinfo", "--noheader", f"--format={fmt}"])
    if out.returncode:
        raise NodeError(f"sinfo failed: {out.stderr.strip()}")
    partitions: dict[str, dict] = {}
    for line in out.stdout.splitlines():
        name, avail, limit, default, count, state, gres = (line.split("|") + [""] * 7)[:7]
        default_partition = name.endswith("*")
        p = partitions.setdefault(name.rstrip("*"), {"name": name.rstrip("*"), "default": default_partition,
                                                     "available": avail, "time_limit": limit,
                                                     "default_time": default, "gres": gres, "nodes": {}})
        p["nodes"][state] = p["nodes"].get(state, 0) + int(count or 0)
    queue = _run(["squeue", "--noheader", "--format=%u|%T"])
    rows = [line.split("|") for line in queue.stdout.splitlines() if "|" in line]
    me = os.environ.get("USER") or _whoami()
    mine = [s for u, s in rows if u == me]
    return {"partitions": list(partitions.values()), "queue_length": len(rows),
            "my_running": sum(1 for s in mine if s == "RUNNING"),
            "my_pending": sum(1 for s in mine if s == "PENDING"),
            "tools": {t: shutil.which(t) is not None for t in ("sbatch", "squeue", "scancel", "sacct", "srun")}}


def _whoami() -> str:
    return pwd.getpwuid(os.getuid()).pw_name


def _run(argv: list[str]) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    except FileNotFoundError as exc:
        raise NodeError(f"{argv[0]} is not on the login node's PATH ({exc}); is this a Slurm login node?") from exc
    except subprocess.TimeoutExpired as exc:
        raise NodeError(f"{argv[0]} did not answer within 60 s; the Slurm controller may be down") from exc


def dispatch(node, verb: str, payload: dict) -> dict:
    return {"slurm_info": slurm_info, "slurm_queue": slurm_queue, "slurm_settle": slurm_settle,
            "slurm_accounting": slurm_accounting}[verb](node, payload)

