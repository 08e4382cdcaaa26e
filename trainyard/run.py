"""A run as seen from your desk (Azure ML v1 ``Run`` names): status, logs, metrics, files, models; and
``Experiment``, the named group that submits runs (here because each names the other)."""

from __future__ import annotations

import shlex
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from trainers.status import CANCEL_REQUESTED, CANCELED, COMPLETED, FAILED, is_terminal

from .children import iter_children, match_child, render_children_summary
from .errors import ActivityFailedException, RunError
from .jobspec import JobSpec, check_experiment_name
from .metrics import compute_metrics, compute_tags, load_records
from .model import Model
from .portal import load_portal_url
from .registration import register_run_output
from .runstore import RunStore
from .submission import submit
from .sweep import ensure_controller, rank_children, start_sweep
from .sweepjob import HyperDriveConfig
from .tracker import cancel_run, sync_step

if TYPE_CHECKING:
    from .workspace import Workspace

SWEEP_POLL = 0.25  # seconds between looks at a sweep's store while following it
STREAMED_LOGS = ("environment_build.log", "std_log.txt")
MAX_CATCH_UP_STEPS = 200  # each step reads up to 512 KiB of logs
POLL_WAIT = 0.5  # seconds the node may hold a poll open while nothing changes


def parse_arguments(command: str | None) -> list[str]:
    """The script's arguments in a command (``python train.py --lr 0.1`` → ``['--lr', '0.1']``) (pure)."""
    try:
        words = shlex.split(command or "")
    except ValueError:
        return []
    if len(words) >= 2 and Path(words[0]).name.startswith("python") and words[1].endswith(".py"):
        return words[2:]
    return words


class Run:
    def __new__(cls, workspace: Workspace, run_id: str):
        """``Run(ws, id)`` of a sweep's parent is a ``HyperDriveRun``."""
        if cls is Run and RunStore(workspace.root).load(run_id).get("type") == "hyperdrive":
            cls = HyperDriveRun
        return super().__new__(cls)

    def __init__(self, workspace: Workspace, run_id: str):
        self.workspace = workspace
        self.id = run_id
        self._store = RunStore(workspace.root)
        self._store.load(run_id)  # fail early on an unknown id

    @classmethod
    def get(cls, workspace: Workspace, run_id: str) -> Run:
        return cls(workspace, run_id)

    # -- record ---------------------------------------------------------------------------------
    @property
    def record(self) -> dict:
        return self._store.load(self.id)

    @property
    def run_dir(self) -> Path:
        return self._store.run_dir(self.id)

    @property
    def experiment(self) -> Experiment:
        return Experiment(self.workspace, self.record["experiment"])

    @property
    def status(self) -> str:
        return self.record["status"]

    @property
    def display_name(self) -> str | None:
        return self.record.get("display_name")

    def refresh(self, wait: float = 0.0, progress=None) -> dict[str, bytes]:
        """One step of syncing with the node (no-op once terminal); returns new log bytes by file. With
        ``wait``, the node answers as soon as something changes, or after ``wait`` seconds."""
        return sync_step(self.workspace, self._store, self.id, wait=wait, progress=progress).chunks

    def revive(self) -> str:
        """Ask the node again about a run given up on as "node lost" (it may be back with the result)."""
        return sync_step(self.workspace, self._store, self.id, revive=True).status

    def get_status(self) -> str:
        """Sync with the node until caught up (finishing a pull a disconnected client missed); a job that
        logs faster than it can be read is left for `runs attach` after a bounded number of steps."""
        for _ in range(MAX_CATCH_UP_STEPS):
            if is_terminal(self.status) or not self.refresh():
                break
        return self.status

    # -- waiting and streaming ----------------------------------------------------------------------
    def wait_for_completion(self, show_output: bool = False, wait_post_processing: bool = True,
                            raise_on_error: bool = True, timeout: float | None = None,
                            out: IO[str] | None = None, progress=None) -> dict:
        """Block until the run is terminal; with ``show_output`` stream its log and status changes."""
        out = out or sys.stdout
        deadline = None if timeout is None else time.monotonic() + timeout
        if show_output:
            out.write(f"RunId: {self.id}\nWeb View: {self.get_portal_url()}\n\n")
            self._replay_logs(out)
        last, delay = None, 0.02
        while True:
            started = time.monotonic()
            chunks = self.refresh(wait=POLL_WAIT, progress=progress)
            record = self.record
            if show_output:
                if (record["status"], record.get("status_reason")) != last and not is_terminal(record["status"]):
                    reason = record.get("status_reason")
                    out.write(f"[status] {record['status']}" + (f": {reason}" if reason else "") + "\n")
                for name in STREAMED_LOGS:
                    if name in chunks:
                        out.write(chunks[name].decode(errors="replace"))
                out.flush()
            last = (record["status"], record.get("status_reason"))
            if is_terminal(record["status"]):
                break
            if deadline is not None and time.monotonic() > deadline:
                raise RunError(f"run {self.id} still {record['status']} after {timeout} s; it keeps "
                               f"going — `trainyard runs attach {self.id}` to follow it", self.id)
            # the poll itself waited on the node; sleep only for what it did not (another client was
            # syncing this run, or a step that does not poll)
            delay = 0.02 if chunks else min(delay * 1.5, POLL_WAIT)
            time.sleep(max(0.0, delay - (time.monotonic() - started)))
        if show_output:
            out.write(self.render_summary())
            out.flush()
        if raise_on_error and record["status"] != COMPLETED:
            raise ActivityFailedException(self.render_failure(), self.id, record.get("exit_code"))
        return self.get_details()

    def _replay_logs(self, out: IO[str]) -> None:
        for name in STREAMED_LOGS:
            path = self.run_dir / "logs" / name
            if path.is_file():
                out.write(path.read_text(errors="replace"))

    def render_failure(self) -> str:
        r = self.record
        reason = (r.get("status_reason") or "no reason recorded").strip()
        return (f"run {self.id} {r['status']}: {reason}\n"
                f"Full log: `trainyard runs logs {self.id}`" +
                ("; resubmit after fixing the script." if r["status"] == FAILED and r.get("exit_code") is not None
                 else "."))  # the script ran and failed; other failures say what to do in their reason

    def render_summary(self) -> str:
        r = self.record
        duration = (r.get("ended") or time.time()) - (r.get("started") or r["created"])
        lines = ["", "Execution Summary", "=================", f"RunId: {self.id}",
                 f"Status: {r['status']}", f"Duration: {duration:.1f} s"]
        if r.get("model_id"):
            lines.append(f"Registered model: {r['model_id']}")
        if r.get("registration_error"):
            lines.append(f"Model registration failed: {r['registration_error']}")
        if r.get("rejected_outputs"):
            lines.append(f"Rejected outputs: {len(r['rejected_outputs'])} (see `trainyard runs show {self.id}`)")
        return "\n".join(lines) + "\n\n"

    # -- details ----------------------------------------------------------------------------------
    def get_details(self) -> dict[str, Any]:
        r = self.record
        iso = lambda t: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t)) if t else None  # noqa: E731
        details = {
            "runId": self.id, "experiment": r["experiment"], "status": r["status"],
            "statusReason": r.get("status_reason"), "target": r["compute"],
            "startTimeUtc": iso(r.get("started")), "endTimeUtc": iso(r.get("ended")),
            "createdTimeUtc": iso(r["created"]), "displayName": r.get("display_name"),
            "tags": self.get_tags(), "properties": self.get_properties(),
            "inputDatasets": r.get("inputs", {}), "command": r.get("rendered_command") or r.get("command"),
            "environment": r.get("environment"), "snapshotId": r.get("snapshot"),
            "exitCode": r.get("exit_code"), "signal": r.get("signal"),
            "logFiles": {p: str(self.run_dir / p) for p in self.get_file_names() if p.startswith("logs/")},
            "history": r.get("history", []), "modelId": r.get("model_id"),
            "rejectedOutputs": r.get("rejected_outputs", []), "portalUrl": self.get_portal_url(),
            "images": {k: v for k, v in self._metric_images().items()},
        }
        if r.get("parent"):
            details["parentRunId"] = r["parent"]
        statuses = [c["status"] for c in iter_children(self._store, r)]
        if statuses:
            details["childRuns"] = render_children_summary(statuses)
        details["runDefinition"] = {"command": details["command"], "arguments": parse_arguments(details["command"]),
                                    "hyperparameters": r.get("hyperparameters")}
        if r["status"] in (FAILED, CANCELED):
            details["error"] = {"message": r.get("status_reason"), "exitCode": r.get("exit_code")}
        if r.get("registration_error"):
            details["registrationError"] = r["registration_error"]
        return details

    # -- child runs -------------------------------------------------------------------------------
    @property
    def parent(self) -> Run | None:
        parent = self.record.get("parent")
        return Run(self.workspace, parent) if parent else None

    def get_children(self, recursive: bool = False, tags: dict | str | None = None,
                     properties: dict | str | None = None, type: str | None = None,  # noqa: A002 - v1 name
                     status: str | None = None, _rehydrate_runs: bool = True) -> list[Run]:
        """The runs whose parent is this run (newest first), filtered like v1."""
        return [Run(self.workspace, r["run_id"]) for r in iter_children(self._store, self.record, recursive)
                if match_child(r, tags, properties, type, status)]

    def submit_child(self, config: Any, tags: dict | None = None, **kwargs: Any) -> Run:
        """Submit ``config`` (a ScriptRunConfig or JobSpec) as a child of this run, on its own compute."""
        return self.experiment.submit(config, tags=tags, parent=self.id, **kwargs)

    def get_portal_url(self) -> str:
        """The run's page on the dashboard when `trainyard ui` serves this workspace, else its directory."""
        return load_portal_url(self.workspace.root, f"/runs/{self.id}") or self.run_dir.as_uri()

    # -- metrics, tags, properties -----------------------------------------------------------------
    def _records(self) -> list[dict]:
        return load_records(self.run_dir / "metrics.jsonl")

    def get_metrics(self, name: str | None = None) -> dict[str, Any]:
        metrics = compute_metrics(self._records())
        if name is not None:
            return {name: metrics[name]} if name in metrics else {}
        return metrics

    def _metric_images(self) -> dict[str, Any]:
        return {r["name"]: r["value"] for r in self._records() if r.get("kind") == "image"}

    def get_tags(self) -> dict[str, str]:
        return {**compute_tags(self._records()), **self.record.get("tags", {})}

    def get_properties(self) -> dict[str, str]:
        return {**compute_tags(self._records(), "property"), **self.record.get("properties", {})}

    def tag(self, key: str, value: Any = None) -> None:
        self._store.update(self.id, lambda r: r["tags"].update({key: "" if value is None else str(value)}))

    def set_tags(self, tags: dict) -> None:
        self._store.update(self.id, lambda r: r["tags"].update({k: str(v) for k, v in tags.items()}))

    def add_properties(self, properties: dict) -> None:
        def change(r: dict) -> None:
            clash = [k for k in properties if k in r["properties"] and r["properties"][k] != str(properties[k])]
            if clash:
                raise RunError(f"properties are immutable; {clash[0]!r} is already set", self.id)
            r["properties"].update({k: str(v) for k, v in properties.items()})

        self._store.update(self.id, change)

    # -- files ------------------------------------------------------------------------------------
    def get_file_names(self) -> list[str]:
        return self._store.file_names(self.id)

    def download_file(self, name: str, output_file_path: str | None = None) -> str:
        if name not in self.get_file_names():
            raise RunError(f"run {self.id} has no file {name!r}; it has: "
                           f"{', '.join(self.get_file_names()) or 'no files'}", self.id)
        dest = Path(output_file_path or Path(name).name)
        if dest.is_dir():
            dest = dest / Path(name).name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.run_dir / name, dest)
        return str(dest)

    def download_files(self, prefix: str | None = None, output_directory: str | None = None,
                       append_prefix: bool = True) -> list[str]:
        out_dir = Path(output_directory or ".")
        done = []
        for name in self.get_file_names():
            if prefix and not name.startswith(prefix):
                continue
            rel = name if append_prefix or not prefix else name[len(prefix):].lstrip("/")
            done.append(self.download_file(name, str(out_dir / rel)))
        return done

    # -- actions ----------------------------------------------------------------------------------
    def cancel(self) -> str:
        """Ask the node to cancel (TERM, then KILL after a grace period); returns the status after."""
        return cancel_run(self.workspace, self.id, "canceled by the user")

    def register_model(self, model_name: str, model_path: str, tags: dict | None = None,
                       properties: dict | None = None, model_framework: str | None = None,
                       model_framework_version: str | None = None, description: str | None = None,
                       resource_configuration: Any = None, **_unused: Any) -> Model:
        """Register a file or folder this run produced (``outputs/...``) as the next model version."""
        record = register_run_output(
            self._store, self.id, model_name, model_path, tags=tags, properties=properties,
            description=description, framework=model_framework, framework_version=model_framework_version,
            resource_configuration=resource_configuration.serialize() if resource_configuration else None)
        return Model(self.workspace, _record=record)

    def __repr__(self) -> str:
        return f"Run(id={self.id!r}, status={self.status!r})"


class HyperDriveRun(Run):
    """The parent run of a sweep (``experiment.submit(HyperDriveConfig(...))``): its children are the trials.
    A detached controller (``trainyard.sweep``) does the work; this object reads the store, and starts a new
    controller when it finds none alive."""

    @property
    def hyperdrive_settings(self) -> dict:
        return self.record["hyperdrive"]

    def refresh(self, wait: float = 0.0) -> dict[str, bytes]:
        ensure_controller(self.workspace, self.id)
        time.sleep(min(wait, SWEEP_POLL))
        return {}

    def get_status(self) -> str:
        self.refresh()
        return self.status

    def revive(self) -> str:
        """`runs attach` on a sweep: no node to ask again; its controller is started if none is alive."""
        return self.get_status()

    def cancel(self) -> str:
        """Cancel the sweep: every child through the normal cancel path, then the parent."""
        if is_terminal(self.status):
            return self.status
        self._store.set_status(self.id, CANCEL_REQUESTED, "canceled by the user")
        for child in iter_children(self._store, self.record):
            cancel_run(self.workspace, child["run_id"], f"its sweep {self.id} was canceled")
        ensure_controller(self.workspace, self.id)
        return CANCEL_REQUESTED

    def get_children_sorted_by_primary_metric(self, top: int = 0, reverse: bool = False,
                                              discard_no_metric: bool = False) -> list[dict]:
        """Children best first by their best value of the primary metric (``reverse``: worst first)."""
        return rank_children(self._store, self.record, top, reverse, discard_no_metric)

    def get_best_run_by_primary_metric(self, include_failed: bool = True, include_canceled: bool = True,
                                       include_resume_from_runs: bool = True) -> Run | None:
        """The child with the best value of the primary metric (each child's best over its series)."""
        for row in self.get_children_sorted_by_primary_metric(discard_no_metric=True):
            if (row["status"] == FAILED and not include_failed) or (row["status"] == CANCELED and not include_canceled):
                continue
            return Run(self.workspace, row["run_id"])
        return None

    def get_hyperparameters(self) -> dict[str, dict]:
        """Child run id → its hyperparameters."""
        return {r["run_id"]: r.get("hyperparameters") or {} for r in iter_children(self._store, self.record)}

    def get_metrics(self, name: str | None = None, recursive: bool = False) -> dict[str, Any]:
        """Child run id → its metrics (as v1's HyperDriveRun does)."""
        return {c.id: c.get_metrics(name) for c in self.get_children()}

    def get_details(self) -> dict[str, Any]:
        details = super().get_details()
        rows = self.get_children_sorted_by_primary_metric()
        best = rows[0] if rows and rows[0]["best_primary_metric"] is not None else None
        return {**details, "hyperdrive": self.hyperdrive_settings, "children": rows,
                "bestRunId": best and best["run_id"]}

    def wait_for_completion(self, show_output: bool = False, wait_post_processing: bool = True,
                            raise_on_error: bool = True, timeout: float | None = None,
                            out: IO[str] | None = None, progress=None) -> dict:
        """Block until the sweep ends (restarting its controller if it is gone); with ``show_output``,
        a line per child as it ends, then the best."""
        out = out or sys.stdout
        deadline = None if timeout is None else time.monotonic() + timeout
        metric = self.hyperdrive_settings["primary_metric_name"]
        shown: set[str] = set()
        if show_output:
            out.write(f"RunId: {self.id}\nWeb View: {self.get_portal_url()}\n\n"
                      f"{'CHILD RUN':44} {'STATUS':10} {metric[:14]:>14}  HYPERPARAMETERS\n")
        last = None
        while True:
            self.refresh(wait=SWEEP_POLL)
            record = self.record
            if show_output:
                rows = sorted(self.get_children_sorted_by_primary_metric(), key=lambda r: r["created"])
                for row in (r for r in rows if r["run_id"] not in shown and is_terminal(r["status"])):
                    shown.add(row["run_id"])
                    value = "-" if row["best_primary_metric"] is None else f"{row['best_primary_metric']:.6g}"
                    params = " ".join(f"{k}={v}" for k, v in row["hyperparameters"].items())
                    out.write(f"{row['run_id']:44} {row['status']:10} {value:>14}  {params}\n")
                if record.get("status_reason") != last and not is_terminal(record["status"]):
                    out.write(f"[sweep] {record['status']}: {record.get('status_reason')}\n")
                    last = record.get("status_reason")
                out.flush()
            if is_terminal(record["status"]):
                break
            if deadline is not None and time.monotonic() > deadline:
                raise RunError(f"sweep {self.id} still {record['status']} after {timeout} s; it keeps going — "
                               f"`trainyard runs attach {self.id}` to follow it", self.id)
        if show_output:
            out.write(self.render_summary())
            out.flush()
        if raise_on_error and record["status"] != COMPLETED:
            raise ActivityFailedException(self.render_failure(), self.id)
        return self.get_details()

    def render_summary(self) -> str:
        best = self.get_children_sorted_by_primary_metric(top=1, discard_no_metric=True)
        if not best:
            return super().render_summary()
        b = best[0]
        return super().render_summary().rstrip("\n") + (
            f"\nBest run: {b['run_id']} {self.hyperdrive_settings['primary_metric_name']}="
            f"{b['best_primary_metric']:.6g} {b['hyperparameters']}\n\n")


class Experiment:
    """``Experiment(workspace, name)``: a named group of runs (gets or creates, like v1)."""

    def __init__(self, workspace: Workspace, name: str):
        self.workspace = workspace
        self.name = check_experiment_name(name)

    def submit(self, config: Any, tags: dict | None = None, progress: Callable[[str], None] | None = None,
               use_current_env: bool = False, parent: str | None = None) -> Run:
        """Submit a ScriptRunConfig or JobSpec (a run, a child of ``parent`` if given), or a HyperDriveConfig
        (a sweep: its HyperDriveRun); returns the run, already started."""
        if isinstance(config, HyperDriveConfig):
            parent_id = start_sweep(self.workspace, config.to_job_spec(self.name), config.to_settings(), tags)
            if progress:
                progress(f"sweep {parent_id}: {config.max_total_runs} trials, at most {config.max_concurrent_runs} "
                         f"at a time, {config.hyperparameter_sampling.kind} sampling, {config.policy.name}")
            return HyperDriveRun(self.workspace, parent_id)
        if isinstance(config, JobSpec):
            spec = config
            spec.experiment_name = self.name
        else:
            spec = config.to_job_spec(self.name)
        run_id = submit(self.workspace, spec, tags=tags, progress=progress, use_current_env=use_current_env,
                        parent=parent)
        return Run(self.workspace, run_id)

    def get_runs(self, include_children: bool = False, tags: dict | str | None = None,
                 properties: dict | str | None = None, type: str | None = None,  # noqa: A002 - v1 name
                 status: str | None = None) -> list[Run]:
        """Runs of this experiment, newest first; children (of sweeps, ``submit_child``) only when asked."""
        return [Run(self.workspace, r["run_id"]) for r in RunStore(self.workspace.root).iter_runs(self.name)
                if (include_children or not r.get("parent")) and match_child(r, tags, properties, type, status)]

    def __repr__(self) -> str:
        return f"Experiment(name={self.name!r}, workspace={self.workspace.name!r})"
