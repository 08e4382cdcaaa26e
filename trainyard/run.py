"""A run as seen from your desk (Azure ML v1 ``Run`` names): status, logs, metrics, files, models; and
``Experiment``, the named group that submits runs (here because each names the other)."""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from trainers.status import CANCEL_REQUESTED, CANCELED, COMPLETED, FAILED, is_terminal

from .errors import ActivityFailedException, RunError
from .jobspec import JobSpec, check_experiment_name
from .metrics import compute_metrics, compute_tags, load_records
from .model import Model
from .portal import load_portal_url
from .registration import register_run_output
from .runstore import NEVER_LAUNCHED, RunStore
from .submission import submit
from .tracker import node_for, sync_step
from .workspace import Workspace

STREAMED_LOGS = ("environment_build.log", "std_log.txt")
MAX_CATCH_UP_STEPS = 200  # each step reads up to 512 KiB of logs
POLL_WAIT = 0.5  # seconds the node may hold a poll open while nothing changes


class Run:
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
                ("; resubmit after fixing the script." if r["status"] == FAILED else ""))

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
        if r["status"] in (FAILED, CANCELED):
            details["error"] = {"message": r.get("status_reason"), "exitCode": r.get("exit_code")}
        if r.get("registration_error"):
            details["registrationError"] = r["registration_error"]
        return details

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
        record = self.record
        if not record.get("launched") and not is_terminal(record["status"]):
            sync_step(self.workspace, self._store, self.id)  # a run whose submitter died is marked never launched
            record = self.record
            if not is_terminal(record["status"]):  # still being submitted: its submitter stops before launch
                return self._store.set_status(self.id, CANCELED, f"{NEVER_LAUNCHED}: canceled by the user while "
                                              "it was being submitted")["status"]
        if is_terminal(record["status"]):
            return record["status"]
        node_for(self.workspace, record).call("cancel", {"run_id": self.id})
        return self._store.set_status(self.id, CANCEL_REQUESTED, "cancel requested by the user")["status"]

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


class Experiment:
    """``Experiment(workspace, name)``: a named group of runs (gets or creates, like v1)."""

    def __init__(self, workspace: Workspace, name: str):
        self.workspace = workspace
        self.name = check_experiment_name(name)

    def submit(self, config: Any, tags: dict | None = None, progress: Callable[[str], None] | None = None,
               use_current_env: bool = False) -> Run:
        """Submit a ScriptRunConfig (or a JobSpec); returns the Run, already started."""
        if isinstance(config, JobSpec):
            spec = config
            spec.experiment_name = self.name
        else:
            spec = config.to_job_spec(self.name)
        run_id = submit(self.workspace, spec, tags=tags, progress=progress, use_current_env=use_current_env)
        return Run(self.workspace, run_id)

    def get_runs(self) -> list[Run]:
        return [Run(self.workspace, r["run_id"]) for r in RunStore(self.workspace.root).iter_runs(self.name)]

    def __repr__(self) -> str:
        return f"Experiment(name={self.name!r}, workspace={self.workspace.name!r})"
