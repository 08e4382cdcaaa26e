"""The sweep controller: a detached process at your desk that runs a HyperDrive sweep to its end.

``start_sweep`` records the parent run (``type: hyperdrive``) with its settings and the trial's job spec in
``sweep.json`` beside ``run.json``, then starts ``python -m trainyard.hyperdrive WORKSPACE PARENT_ID`` (which
builds the workspace and runs ``Controller``) in its own session, so the sweep outlives the client. The
controller:

- keeps at most ``max_concurrent_runs`` children in flight, each submitted through the normal submission
  path (so through the compute's own queue) as an ordinary run whose ``run.json`` names its ``parent``;
- syncs the children (logs, metrics, outputs), applies the early termination policy to their primary
  metric series and cancels the doomed ones through the normal cancel path (``Canceled``, with properties
  naming the policy and the values);
- enforces ``max_duration_minutes`` and honours a cancel of the parent.

Before submitting a child it writes the child's run id and hyperparameters into ``sweep.json``; only then
does the run exist. A restarted controller (``ensure_controller``: any client that finds none alive starts
one; an exclusive ``flock`` keeps it to one) therefore submits a recorded child that never got created, and
fails one whose submission it interrupted: no child is lost or made twice.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import math
import resource
import subprocess
import sys
import sysconfig
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import TYPE_CHECKING

from trainers._atomic import read_json, write_json_atomic
from trainers.status import CANCEL_REQUESTED, CANCELED, COMPLETED, FAILED, RUNNING, is_terminal

from .children import iter_children, render_children_summary
from .environment import Environment
from .errors import TrainyardError
from .jobspec import InputSpec, JobSpec
from .metrics import load_records
from .policy import load_policy
from .registration import register_run_output
from .runstore import RunStore, new_record, new_run_id
from .sampling import config_key, load_sampling
from .snapshot import FileEntry, Snapshot, take_snapshot
from .submission import submit
from .sweepjob import render_trial_command
from .tracker import cancel_run, sync_step

if TYPE_CHECKING:
    from .workspace import Workspace

STATE = "sweep.json"
LOCK = ".controller.lock"
LOOP_SECONDS = 0.05  # the loop wakes at least this often (a cancel of the parent, the deadline)
POLL_WAIT = 0.5  # a child's node holds its poll until something changes, or this long
SUMMARY_SECONDS = 1.0  # the parent's status reason ("2 Running, 5 Completed of 12") is rewritten at most this often
MAX_POLLS = 32  # children polled at once (one long poll each)
SUBMITTERS = 4  # children submitted at once


# -- pure helpers ----------------------------------------------------------------------------------
def primary_series(records: list[dict], metric: str) -> list[float]:
    """The numeric values logged under ``metric``, in order (pure)."""
    return [float(r["value"]) for r in records if r.get("kind") == "scalar" and r.get("name") == metric
            and isinstance(r.get("value"), (int, float)) and not isinstance(r.get("value"), bool)
            and math.isfinite(r["value"])]


def best_of(series: list[float], goal: str) -> float | None:
    if not series:
        return None
    return max(series) if goal == "MAXIMIZE" else min(series)


def rank_children(store: RunStore, parent: dict, top: int = 0, reverse: bool = False,
                  discard_no_metric: bool = False) -> list[dict]:
    """A sweep's children best first by each one's best value of the primary metric (``reverse``: worst
    first); those without a value come last, or not at all with ``discard_no_metric``."""
    metric, goal = parent["hyperdrive"]["primary_metric_name"], parent["hyperdrive"]["primary_metric_goal"]
    rows = []
    for child in iter_children(store, parent):
        series = primary_series(load_records(store.run_dir(child["run_id"]) / "metrics.jsonl"), metric)
        rows.append({"run_id": child["run_id"], "status": child["status"], "best_primary_metric": best_of(series, goal),
                     "hyperparameters": child.get("hyperparameters") or {}, "created": child["created"]})
    rows.sort(key=lambda r: (r["created"], r["run_id"]))  # ties go to the earliest child, whoever asks
    scored = sorted((r for r in rows if r["best_primary_metric"] is not None),
                    key=lambda r: r["best_primary_metric"], reverse=(goal == "MAXIMIZE") != reverse)
    out = scored + ([] if discard_no_metric else [r for r in rows if r["best_primary_metric"] is None])
    return out[:top] if top else out


def dump_job_spec(spec: JobSpec) -> dict:
    """A JobSpec as JSON-able data (every field, so new fields travel too)."""
    out = {}
    for f in dataclasses.fields(spec):
        value = getattr(spec, f.name)
        if isinstance(value, Path):
            value = str(value)
        elif isinstance(value, Environment):
            value = value.to_dict()
        elif f.name == "inputs":
            value = {n: dataclasses.asdict(i) for n, i in value.items()}
        out[f.name] = value
    return out


def load_job_spec(data: dict) -> JobSpec:
    known = {f.name for f in dataclasses.fields(JobSpec)}
    data = {k: v for k, v in data.items() if k in known}
    data["code"] = Path(data["code"])
    data["inputs"] = {n: InputSpec(**i) for n, i in (data.get("inputs") or {}).items()}
    if data.get("environment"):
        data["environment"] = Environment.from_dict(data["environment"])
    return JobSpec(**data)


# -- the parent run and its controller -------------------------------------------------------------
def start_sweep(workspace: Workspace, spec: JobSpec, settings: dict, tags: dict | None = None,
                display_name: str | None = None) -> str:
    """Record the sweep's parent run and start its controller; returns the parent run id."""
    store = RunStore(workspace.root)
    parent_id = new_run_id(spec.experiment_name)
    snapshot = take_snapshot(spec.code, workspace.objects, workspace.limits["max_snapshot_bytes"],
                             workspace.limits["max_snapshot_files"])  # once: every trial runs this code
    store.create(new_record(
        parent_id, spec.experiment_name, type="hyperdrive", compute=spec.compute, node=None, parent=None,
        display_name=display_name or spec.display_name, description=spec.description,
        tags={**spec.tags, **(tags or {})}, command=spec.command, code=str(spec.code), source=spec.source,
        hyperdrive=settings, snapshot=snapshot.oid, properties={"primary_metric_config": json.dumps(
            {"name": settings["primary_metric_name"], "goal": settings["primary_metric_goal"]})}))
    write_json_atomic(store.run_dir(parent_id) / "snapshot.json",
                      {**snapshot.summary(), "files": [f.to_dict() for f in snapshot.files]})
    write_json_atomic(store.run_dir(parent_id) / STATE, {
        "workspace": {"config": str(workspace.config_path) if workspace.config_path else None,
                      "directory": None if workspace.config_path else str(workspace.root.parent)},
        "spec": dump_job_spec(spec), "settings": settings, "trials": [], "started": time.time()})
    store.set_status(parent_id, RUNNING, "starting the sweep controller")
    ensure_controller(workspace, parent_id)
    return parent_id


def controller_alive(run_dir: Path) -> bool:
    """Whether a controller holds the parent's lock right now."""
    with open(run_dir / LOCK, "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.flock(fh, fcntl.LOCK_UN)
        return False


def ensure_controller(workspace: Workspace, parent_id: str) -> bool:
    """Start the parent's controller unless one runs or the sweep is over; returns True if one was started."""
    store = RunStore(workspace.root)
    run_dir = store.run_dir(parent_id)
    if is_terminal(store.load(parent_id)["status"]) or controller_alive(run_dir):
        return False
    (run_dir / "logs").mkdir(exist_ok=True)
    with open(run_dir / "logs" / "controller.log", "ab") as log:
        subprocess.Popen([sys.executable, "-m", "trainyard.hyperdrive", str(workspace.root), parent_id],
                         stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                         cwd=run_dir)
    return True


class Controller:
    def __init__(self, workspace: Workspace, parent_id: str):
        self.workspace = workspace
        self.parent_id = parent_id
        self.store = RunStore(workspace.root)
        self.run_dir = self.store.run_dir(parent_id)
        self.state = read_json(self.run_dir / STATE)
        s = self.state["settings"]
        self.settings = s
        self.goal = s["primary_metric_goal"]
        self.metric = s["primary_metric_name"]
        self.sampling = load_sampling(s["sampling"])
        self.policy = load_policy(s.get("policy"))
        self.spec = load_job_spec(self.state["spec"])
        taken = read_json(self.run_dir / "snapshot.json")
        self.snapshot = Snapshot(taken["oid"], [FileEntry(**f) for f in taken["files"]], taken["ignore_file"])
        self.exhausted = False
        self.ended: dict[str, dict] = {}
        self.ended_series: dict[str, list[float]] = {}
        self.stopped: set[str] = set()
        self.pending: list[dict] = []  # recorded by a previous controller, never created

    def say(self, message: str) -> None:
        print(f"{time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)

    def save(self) -> None:
        write_json_atomic(self.run_dir / STATE, self.state)

    def children(self) -> dict[str, dict]:
        """Records of the children that exist (an ended child's record is read once, then kept)."""
        out = {}
        for trial in self.state["trials"]:
            run_id = trial["run_id"]
            record = self.ended.get(run_id) or read_json(self.store.run_dir(run_id) / "run.json")
            if record is not None:
                out[run_id] = record
                if is_terminal(record["status"]):
                    self.ended[run_id] = record
        return out

    # -- recovery ----------------------------------------------------------------------------------
    def recover(self) -> None:
        """Children a previous controller recorded: those never created are submitted first (as slots free
        up), those cut off mid-submission are failed (they have no node to run on)."""
        for trial in self.state["trials"]:
            record = read_json(self.store.run_dir(trial["run_id"]) / "run.json")
            if record is None:
                self.say(f"{trial['run_id']} was recorded but not created before the controller stopped; "
                         "submitting it")
                self.pending.append(trial)
            elif not record.get("launched") and not is_terminal(record["status"]):
                self.store.set_status(trial["run_id"], FAILED, "the sweep controller stopped while submitting "
                                      "this trial; the sweep went on without it")

    # -- one child -----------------------------------------------------------------------------------
    def submit_trial(self, trial: dict) -> None:
        spec = dataclasses.replace(self.spec, command=render_trial_command(self.spec.command, trial["params"]),
                                   register_model=None, tags=dict(self.spec.tags), inputs={
                                       n: dataclasses.replace(i) for n, i in self.spec.inputs.items()})
        try:
            submit(self.workspace, spec, parent=self.parent_id, run_id=trial["run_id"],
                   fields={"hyperparameters": trial["params"], "type": "command"}, snapshot=self.snapshot)
        except TrainyardError as exc:  # a failing child does not stop the sweep (submit marked it Failed)
            self.say(f"trial {trial['run_id']} could not be submitted: {exc}")
            if read_json(self.store.run_dir(trial["run_id"]) / "run.json") is None:
                self.store.create(new_record(trial["run_id"], self.spec.experiment_name, parent=self.parent_id,
                                             compute=self.spec.compute, hyperparameters=trial["params"]))
                self.store.set_status(trial["run_id"], FAILED, f"submission failed: {exc}")

    def next_trial(self) -> dict | None:
        trials = self.state["trials"]
        if len(trials) >= int(self.settings["max_total_runs"]) or self.exhausted:
            return None
        results = []  # what the finished trials scored: only a model-based sampler (Bayesian) reads them
        for run_id, record in self.children().items() if self.sampling.kind == "bayesian" else ():
            value = best_of(self.series(run_id), self.goal)
            if record["status"] == COMPLETED and value is not None:
                results.append((record.get("hyperparameters") or {}, value))
        params = self.sampling.next_config(len(trials), [t["params"] for t in trials], results, self.goal)
        if params is None or any(config_key(params) == config_key(t["params"]) for t in trials):
            self.exhausted = True
            return None
        trial = {"index": len(trials), "run_id": new_run_id(self.spec.experiment_name), "params": params}
        trials.append(trial)
        self.save()  # the intent is on disk before the run exists
        return trial

    def series(self, run_id: str) -> list[float]:
        """The child's primary metric values (read once the child has ended)."""
        if run_id in self.ended_series:
            return self.ended_series[run_id]
        values = primary_series(load_records(self.store.run_dir(run_id) / "metrics.jsonl"), self.metric)
        if run_id in self.ended:
            self.ended_series[run_id] = values
        return values

    def stop_child(self, run_id: str, reason: str, properties: dict | None = None) -> None:
        """Cancel a child through the normal cancel path, once (a later poll may still show it Running)."""
        self.stopped.add(run_id)
        try:
            if properties:
                self.store.update(run_id, lambda r: r["properties"].update(
                    {k: str(v) for k, v in properties.items()}))
            cancel_run(self.workspace, run_id, reason)
        except TrainyardError as exc:
            self.say(f"could not cancel {run_id}: {exc}")

    # -- the loop ------------------------------------------------------------------------------------
    def sync_child(self, run_id: str) -> None:
        """One long poll of a child: returns when its state or logs change, or after POLL_WAIT."""
        started, before = time.monotonic(), self.store.load(run_id)["status"]
        try:
            result = sync_step(self.workspace, self.store, run_id, wait=POLL_WAIT)
        except TrainyardError as exc:
            self.say(f"syncing {run_id}: {exc}")
            result = None
        if (result is None or (not result.chunks and result.status == before)) and \
                time.monotonic() - started < LOOP_SECONDS:
            time.sleep(LOOP_SECONDS)  # the node was unreachable, or another client is syncing this child

    def run(self) -> None:
        sysconfig.get_config_vars()  # its first use is not thread-safe, and every submission asks it (find_uv_bin)
        self.recover()
        polls = min(MAX_POLLS, int(self.settings["max_concurrent_runs"]))
        with ThreadPoolExecutor(max_workers=polls) as poller, ThreadPoolExecutor(max_workers=SUBMITTERS) as submitter:
            self.loop(poller, submitter)

    def loop(self, poller: ThreadPoolExecutor, submitter: ThreadPoolExecutor) -> None:
        """Judge, submit and finish as the children's long polls come back (each child has one poll in
        flight at a time); wake at least every LOOP_SECONDS for a cancel of the parent and the deadline."""
        deadline = self.state["started"] + 60 * float(self.settings["max_duration_minutes"])
        stopping = None  # (final status, reason) once the sweep is winding down
        summary_at = 0.0
        polling: dict[str, Future] = {}
        while True:
            parent = self.store.load(self.parent_id)
            if is_terminal(parent["status"]):
                return
            children = self.children()
            active = [r for r, c in children.items() if not is_terminal(c["status"])]
            if stopping is None and parent["status"] == CANCEL_REQUESTED:
                stopping = (CANCELED, parent.get("status_reason") or "canceled by the user")
            elif stopping is None and time.time() > deadline:
                stopping = (COMPLETED, f"max_duration_minutes ({self.settings['max_duration_minutes']}) reached; "
                                       "children still running were canceled")
            trials = []
            if stopping is not None:
                for run_id in active:
                    if run_id not in self.stopped and children[run_id]["status"] != CANCEL_REQUESTED:
                        self.stop_child(run_id, f"the sweep {self.parent_id} is stopping: {stopping[1]}")
                if not active and not polling:
                    return self.finish(*stopping)
            else:
                self.apply_policy(children, active)
                while len(active) + len(trials) < int(self.settings["max_concurrent_runs"]):
                    trial = self.pending.pop(0) if self.pending else self.next_trial()
                    if trial is None:
                        break
                    trials.append(trial)
                list(submitter.map(self.submit_trial, trials))
                no_more = self.exhausted or len(self.state["trials"]) >= int(self.settings["max_total_runs"])
                if no_more and not active and not trials and not polling and not self.pending:
                    return self.finish(*self.outcome(children))
                if time.monotonic() - summary_at > SUMMARY_SECONDS:
                    summary = render_children_summary((c["status"] for c in children.values()),
                                                      int(self.settings["max_total_runs"]))
                    if parent.get("status_reason") != summary:
                        self.store.set_status(self.parent_id, RUNNING, summary)
                    summary_at = time.monotonic()
            for run_id in [*active, *(t["run_id"] for t in trials)]:
                if run_id not in polling:
                    polling[run_id] = poller.submit(self.sync_child, run_id)
            done, _ = wait(list(polling.values()), timeout=LOOP_SECONDS, return_when=FIRST_COMPLETED)
            for run_id in [r for r, f in polling.items() if f in done]:
                polling.pop(run_id).result()  # a bug in a poll ends the controller (the parent says why)

    def apply_policy(self, children: dict[str, dict], active: list[str]) -> None:
        candidates = [r for r in active if r not in self.stopped and children[r]["status"] != CANCEL_REQUESTED]
        if not candidates or self.policy.name == "NoTerminationPolicy":
            return
        series = {r: self.series(r) for r in children}
        for run_id, verdict in self.policy.evaluate(series, candidates, self.goal).items():
            self.say(f"{run_id}: {verdict.describe()}")
            self.stop_child(run_id, f"early termination: {verdict.describe()}", {
                "early_termination_policy": verdict.policy, "early_termination_interval": verdict.interval,
                "early_termination_value": verdict.value, "early_termination_threshold": verdict.threshold,
                "early_termination_detail": json.dumps(verdict.detail, sort_keys=True)})

    def outcome(self, children: dict[str, dict]) -> tuple[str, str]:
        summary = render_children_summary(c["status"] for c in children.values())
        if children and all(c["status"] == FAILED for c in children.values()):
            return FAILED, f"every child failed ({summary}); see `trainyard runs show {self.parent_id}`"
        return COMPLETED, summary

    def finish(self, status: str, reason: str) -> None:
        if status == COMPLETED and self.settings.get("register_model"):
            self.register_best()
        self.store.set_status(self.parent_id, status, reason)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        self.say(f"sweep {self.parent_id} {status}: {reason} (controller CPU "
                 f"{usage.ru_utime + usage.ru_stime:.2f} s)")

    def register_best(self) -> None:
        """Register the model of the child with the best value of the primary metric (as the sweep job asks)."""
        ranked = rank_children(self.store, self.store.load(self.parent_id), top=1, discard_no_metric=True)
        if not ranked:
            return
        best = ranked[0]["run_id"]  # the same choice as get_best_run_by_primary_metric, ties included
        try:
            asked = self.settings["register_model"]
            model = register_run_output(
                self.store, best, asked["name"], asked["path"], framework=asked.get("framework"),
                framework_version=asked.get("framework_version"), tags=asked.get("tags"),
                properties=asked.get("properties"), description=asked.get("description"))
            model_id = f"{model['name']}:{model['version']}"
            self.store.update(self.parent_id, lambda r: r.update(model_id=model_id, best_run_id=best))
        except TrainyardError as exc:
            message = str(exc)
            self.store.update(self.parent_id, lambda r: r.update(registration_error=message))
