"""Slurm computes: the login node is an SSH node whose helper root is the cluster's shared directory.

``SlurmNode`` wraps the login node's handle. Sync, materialise, logs and outputs are the pool's steps on
the shared file system (once per cluster, not per node); ``launch`` becomes an ``sbatch`` of the run's
supervisor; every ``poll`` merges the supervisor's status file (the truth for the job's fate) with the
scheduler's view, which comes from ONE ``squeue`` call shared by all runs polled within
``queue_max_age`` seconds (``runs list`` over 50 active runs costs one call).
"""

from __future__ import annotations

import threading
import time

from trainers.status import CANCELED, FAILED, NOT_RESPONDING, PAUSED, PREPARING, QUEUED, RUNNING, TERMINAL

from ..errors import ConnectError, NodeStepError
from .node import ClosingNode, Node, Progress

# Pending reasons that can never clear by waiting: fail the run at once and say what to change.
NEVER_CLEAR = {
    "PartitionTimeLimit": "the job's time limit is over the partition's MaxTime; lower limits.timeout or "
                          "choose another partition",
    "PartitionNodeLimit": "the job asks for more nodes than the partition allows; lower instance_count",
    "PartitionConfig": "the partition cannot satisfy the request (CPUs, memory or GPUs per node)",
    "BadConstraints": "the job's constraints cannot be met by any node",
    "InvalidAccount": "the account is not valid on this cluster; check --account",
    "InvalidQOS": "the QOS is not valid; check --qos",
    "QOSMaxWallDurationPerJobLimit": "the job's time limit is over the QOS's MaxWall; lower limits.timeout",
    "AccountNotAllowed": "the account may not use this partition",
    "QOSJobLimit": None,  # clears as other jobs end
}
REQUEUED = {"PREEMPTED", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD"}
FATES = {  # Slurm's terminal states for a job whose supervisor could not record its end
    "TIMEOUT": (FAILED, "time limit: Slurm ended job {job_id} at its time limit ({time_limit})"),
    "OUT_OF_MEMORY": (FAILED, "out of memory: Slurm killed job {job_id} on {nodelist}; ask for more memory "
                              "(compute `mem` or --sbatch-arg --mem=…)"),
    "NODE_FAIL": (FAILED, "node failure: {nodelist} failed while running job {job_id}"),
    "BOOT_FAIL": (FAILED, "boot failure: Slurm could not boot {nodelist} for job {job_id}"),
    "FAILED": (FAILED, "Slurm job {job_id} failed on {nodelist} before its supervisor recorded an end; see "
                       "slurm-{job_id}.out in the run directory"),
    "DEADLINE": (FAILED, "deadline: Slurm removed job {job_id} at its deadline"),
    "SPECIAL_EXIT": (FAILED, "Slurm job {job_id} ended in SPECIAL_EXIT"),
    "COMPLETED": (FAILED, "Slurm job {job_id} ended but its supervisor recorded no end (was it killed?)"),
    "CANCELLED": (CANCELED, "canceled in Slurm (scancel of job {job_id})"),
}
# Fates that beat a supervisor's "stopped by SIGTERM" record: Slurm knows why it sent the signal.
SPECIFIC = set(FATES) - {"COMPLETED"}


def merge_status(status: dict, job: dict | None, known: str | None = None) -> tuple[str, str | None, bool]:
    """The run's (state, reason, cancel_job) from the supervisor's status file and the job's ``squeue``
    row (pure). ``known`` is the status the control plane already has; ``cancel_job`` asks to remove a
    job that can never start."""
    state, reason = status.get("state"), status.get("reason")
    if job is None:
        if state in TERMINAL or state == "Lost":
            return state, reason, False
        if known == NOT_RESPONDING:
            return FAILED, ("Slurm no longer knows this run's job and its supervisor recorded no end (the "
                            "job was purged, or the controller lost it); resubmit the run"), False
        return NOT_RESPONDING, "Slurm does not list this run's job and its supervisor recorded no end", False
    slurm = job["state"].split()[0].rstrip("+")
    fields = {"job_id": job.get("job_id"), "nodelist": job.get("nodelist") or "its node",
              "time_limit": job.get("time_limit")}
    if state in TERMINAL:
        if not status.get("scheduler_signal"):
            return state, reason, False
        # the supervisor stopped on Slurm's SIGTERM: Slurm's final state says why (and whether it runs again)
        if slurm in ("RUNNING", "COMPLETING", "CONFIGURING", "SIGNALING", "STAGE_OUT"):
            return RUNNING, f"Slurm is ending job {fields['job_id']} (SIGTERM); waiting for its final state", False
        if slurm in REQUEUED or slurm == "PENDING":
            return QUEUED, f"requeued by Slurm ({slurm}: {job.get('reason')}); it will run again", False
        if slurm in SPECIFIC:
            return FATES[slurm][0], FATES[slurm][1].format(**fields), False
        return state, reason, False
    if slurm == "PENDING":
        why = job.get("reason") or "None"
        if NEVER_CLEAR.get(why):
            return FAILED, f"Slurm will never start this job: {why} ({NEVER_CLEAR[why]})", True
        waiting = "waiting for the scheduler" if why == "None" else why
        return QUEUED, f"pending in Slurm partition {job.get('partition')}: {waiting}", False
    if slurm == "CONFIGURING":
        return PREPARING, f"Slurm is configuring {fields['nodelist']} for job {fields['job_id']}", False
    if slurm in ("RUNNING", "COMPLETING", "RESIZING", "SIGNALING", "STAGE_OUT"):
        if state in (PREPARING, RUNNING):
            return state, reason, False
        return PREPARING, f"Slurm job {fields['job_id']} started on {fields['nodelist']}; starting the supervisor", \
            False
    if slurm in ("SUSPENDED", "STOPPED"):
        return PAUSED, f"suspended by Slurm ({slurm})", False
    if slurm in REQUEUED:
        return QUEUED, f"requeued by Slurm ({slurm}); it will run again", False
    if slurm in FATES:
        return FATES[slurm][0], FATES[slurm][1].format(**fields), False
    return state, f"Slurm state {slurm}" + (f": {reason}" if reason else ""), False


class SlurmNode(ClosingNode):
    """The node handle of a Slurm compute (same interface as ``SSHNode``): the login node's handle, with
    launch, poll and info going through the scheduler."""

    def __init__(self, login: Node, config: dict):
        self.login = login
        self.config = config
        self.name = login.name
        self.queue_max_age = float(config.get("queue_max_age", 2.0))
        self._queue: dict | None = None
        self._queue_time = 0.0
        self._queue_lock = threading.Lock()
        self._file_status: dict[str, tuple] = {}  # run id → (status-file state/reason, what poll answered)
        self.squeue_calls = 0

    @property
    def python(self) -> str | None:
        return self.login.python

    # blobs, files, uv and the connection are the login node's
    def put_blobs(self, items: list[tuple[str, str]], progress: Progress | None = None) -> int:
        return self.login.put_blobs(items, progress)

    def fetch_files(self, run_id: str, items: list[tuple[str, str]],
                    progress: Progress | None = None) -> dict[str, str]:
        return self.login.fetch_files(run_id, items, progress)

    def uv_path(self) -> str | None:
        return self.login.uv_path()

    def close(self) -> None:
        self.login.close()

    def describe(self) -> dict:
        return {**self.login.describe(), "scheduler": "slurm"}

    def call(self, verb: str, payload: dict) -> dict:
        if verb == "launch":
            return self.login.call("launch", {**payload, "job": self.render_job(payload["job"])})
        if verb == "poll":
            return self.poll(payload)
        return self.login.call(verb, payload)

    def render_job(self, job: dict) -> dict:
        """The job for the shared root, with the sbatch parameters of the compute and the job (pure)."""
        c = self.config
        dist = job.get("distribution") or {}
        per_node = int(dist.get("process_count_per_instance") or 1)
        slurm = {"partition": c.get("partition"), "account": c.get("account"), "qos": c.get("qos"),
                 "sbatch_args": list(c.get("sbatch_args") or []), "python": c.get("python", "python3"),
                 "nodes": int(dist.get("instance_count") or 1), "gpus_per_node": int(job.get("gpus") or 0),
                 "cpus_per_task": int(c.get("cpus_per_task") or 1) * per_node if per_node > 1 else c.get("cpus_per_task"),
                 "mem": c.get("mem")}
        out = {k: v for k, v in job.items() if k != "slots"}  # Slurm is the queue: no node slots
        out["slurm"] = {k: v for k, v in slurm.items() if v not in (None, [], "")}
        if c.get("env_root"):  # environments built node-locally instead of on the shared file system
            out["env_root"] = c["env_root"]
        return out

    def queue(self, max_age: float | None = None) -> dict:
        """All of the user's Trainyard jobs from one ``squeue`` (shared by every poll within max_age)."""
        max_age = self.queue_max_age if max_age is None else max_age
        with self._queue_lock:
            if self._queue is None or time.monotonic() - self._queue_time > max_age:
                try:
                    self._queue = self.login.call("slurm_queue", {})["jobs"]
                except NodeStepError as exc:  # the controller is down or overloaded: like a silent node
                    raise ConnectError(f"Slurm does not answer on {self.name} ({exc})") from exc
                self._queue_time = time.monotonic()
                self.squeue_calls += 1
            return self._queue

    def poll(self, payload: dict) -> dict:
        run_id = payload["run_id"]
        known = payload.get("known") or [None, None]
        previous = self._file_status.get(run_id)
        if previous and list(previous[1]) == list(known):  # hold the poll on what the file says, not on
            payload = {**payload, "known": list(previous[0])}  # the reason squeue gave last time
        answer = self.login.call("poll", payload)
        if answer.get("state") in TERMINAL and not answer.get("scheduler_signal"):  # the supervisor's end
            state, reason, cancel = answer["state"], answer.get("reason"), False
            job = (self._queue or {}).get(run_id)  # what squeue last said, for the record: no new call
        else:
            jobs = self.queue(0 if answer.get("state") in TERMINAL else None)
            if run_id not in jobs:  # submitted after that snapshot was taken: look again before concluding
                jobs = self.queue(0)
            job = jobs.get(run_id)
            state, reason, cancel = merge_status(answer, job, known[0])
        info = {k: job[k] for k in ("job_id", "state", "reason", "nodelist", "elapsed", "time_limit",
                                    "partition")} if job else {}
        if cancel:
            self.login.call("cancel", {"run_id": run_id})
        if state in TERMINAL and answer.get("state") != state:
            self.login.call("slurm_settle", {"run_id": run_id, "state": state, "reason": reason})
        if state in TERMINAL:  # the job's accounting, where the cluster keeps it (one sacct, once)
            record = self.accounting([run_id]).get(run_id)
            if record:
                info["accounting"] = record
        self._file_status[run_id] = ((answer.get("state"), answer.get("reason")), (state, reason))
        return {**answer, "state": state, "reason": reason, **({"slurm": info} if info else {})}

    def accounting(self, run_ids: list[str]) -> dict:
        """sacct's records of these runs' jobs ({} where the cluster keeps no accounting)."""
        return self.login.call("slurm_accounting", {"run_ids": run_ids})["accounting"]
