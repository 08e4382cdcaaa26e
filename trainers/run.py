"""The in-job API: ``from trainers import Run; run = Run.get_context()`` (Azure ML v1 names).

Inside a submitted job the supervisor sets ``TRAINYARD_RUN_ID`` and friends; every call appends one JSON
line to ``logs/metrics.jsonl`` in the run directory, which the control plane tails. Started by hand, the
script gets an *offline* run that writes the same lines to ``./logs/metrics.jsonl`` and prints each
value, so local debugging keeps its metrics (Azure's offline run threw them away).
"""

from __future__ import annotations

import json
import numbers
import os
import secrets
import shutil
import time
from pathlib import Path
from typing import Any

from ._atomic import append_line
from .tabular import TabularInput


class _ExperimentRef:
    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return f"Experiment(name={self.name!r})"


class Run:
    """A run as seen from inside the training script."""

    def __init__(self, run_id: str, experiment: str, run_dir: Path, offline: bool,
                 inputs: dict[str, Any] | None = None):
        self.id = run_id
        self.experiment = _ExperimentRef(experiment)
        self.run_dir = run_dir
        self.offline = offline
        self.input_datasets: dict[str, Any] = dict(inputs or {})
        distributed = not offline and "WORLD_SIZE" in os.environ  # rank 0's metrics are the run's
        rank = os.environ.get("RANK", "0") if distributed else "0"
        self._metrics_path = run_dir / "logs" / ("metrics.jsonl" if rank == "0" else f"metrics_rank_{rank}.jsonl")
        self._image_counts: dict[str, int] = {}
        self.parent: Run | None = None
        self.name: str | None = None

    @classmethod
    def get_context(cls, allow_offline: bool = True) -> Run:
        run_id = os.environ.get("TRAINYARD_RUN_ID")
        if run_id:
            inputs: dict = json.loads(os.environ.get("TRAINYARD_INPUTS") or "{}")
            for name, recipe in json.loads(os.environ.get("TRAINYARD_TABULAR") or "{}").items():
                if name in inputs:  # a tabular input: to_pandas_dataframe() reads it with its recipe
                    inputs[name] = TabularInput(inputs[name], recipe)
            return cls(run_id, os.environ.get("TRAINYARD_EXPERIMENT", "default"),
                       Path(os.environ.get("TRAINYARD_RUN_DIR", ".")), offline=False, inputs=inputs)
        if not allow_offline:
            raise RuntimeError("not inside a submitted run (TRAINYARD_RUN_ID is not set)")
        return cls(f"OfflineRun_{int(time.time())}", "offline", Path.cwd(), offline=True)

    # -- identity -------------------------------------------------------------------------------
    @property
    def experiment_name(self) -> str:
        return self.experiment.name

    @property
    def outputs_path(self) -> Path:
        """Where to save files that should come back with the run (``./outputs``)."""
        path = self.run_dir / "outputs"
        path.mkdir(parents=True, exist_ok=True)
        return path

    # -- metrics --------------------------------------------------------------------------------
    def _emit(self, kind: str, name: str | None, value: Any, **extra: Any) -> None:
        record = {"kind": kind, "name": name, "value": value, "time": time.time(), **extra}
        append_line(self._metrics_path, json.dumps(record, default=_jsonable))
        if self.offline:
            print(f"[offline run] {kind} {name}: {value!r}" if name else f"[offline run] {kind}: {value!r}",
                  flush=True)

    def log(self, name: str, value: Any, description: str = "", step: int | None = None) -> None:
        """Log a scalar; logging the same name again makes a series."""
        if isinstance(value, (list, tuple, dict, set)):
            raise TypeError(f"run.log({name!r}, ...) takes a scalar; use log_list for lists and "
                            "log_row/log_table for tables")
        if not isinstance(value, (numbers.Number, str, bool)) and value is not None:
            value = _jsonable(value)
        self._emit("scalar", name, value, step=step, description=description or None)

    def log_list(self, name: str, value: list, description: str = "") -> None:
        self._emit("list", name, [_jsonable(v) for v in value], description=description or None)

    def log_row(self, name: str, description: str | None = None, **kwargs: Any) -> None:
        self._emit("row", name, {k: _jsonable(v) for k, v in kwargs.items()}, description=description)

    def log_table(self, name: str, value: dict, description: str = "") -> None:
        self._emit("table", name, {k: [_jsonable(x) for x in v] for k, v in value.items()},
                   description=description or None)

    def log_image(self, name: str, path: str | os.PathLike | None = None, plot: Any = None,
                  description: str = "") -> None:
        """Log an image from a file (``path``) or a matplotlib figure/pyplot (``plot``)."""
        if (path is None) == (plot is None):
            raise ValueError("log_image needs exactly one of path= or plot=")
        n = self._image_counts.get(name, 0)
        self._image_counts[name] = n + 1
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
        rel = f"images/{safe}{'_' + str(n) if n else ''}.png"
        dest = self.run_dir / "logs" / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        if path is not None:
            shutil.copyfile(path, dest)
        else:
            plot.savefig(dest, format="png")
        self._emit("image", name, "logs/" + rel, description=description or None)

    def log_confusion_matrix(self, name: str, value: Any, labels: list | None = None,
                             description: str = "") -> None:
        """Log a confusion matrix (rows: true class, columns: predicted) and, when matplotlib is available,
        an image with the counts written in. ``value`` is v1's schema dict (``{"schema_type":
        "confusion_matrix", "data": {"class_labels": [...], "matrix": [[...]]}}``, or its JSON text), or
        the matrix itself (a list of rows or an array) with ``labels``."""
        matrix, labels = parse_confusion_matrix(value, labels)
        rows = [[v if isinstance(v, float) and not v.is_integer() else int(v) for v in row] for row in matrix]
        self._emit("confusion_matrix", name, render_confusion_matrix(labels, rows),
                   description=description or None)
        try:
            import matplotlib  # start-up time: optional and slow to import, only plots need it

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt  # start-up time (see above)
        except ImportError:
            return
        size = max(4, 0.45 * len(labels) + 2)
        fig, ax = plt.subplots(figsize=(size, size))
        ax.imshow(rows, cmap="Blues")
        ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
        ax.set_yticks(range(len(labels)), labels)
        peak = max(max(r) for r in rows) or 1
        for i, row in enumerate(rows):
            for j, v in enumerate(row):
                ax.text(j, i, str(v), ha="center", va="center", fontsize=8,
                        color="white" if v > peak / 2 else "black")
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(name)
        fig.tight_layout()
        self.log_image(f"{name} (image)", plot=fig, description=description)
        plt.close(fig)

    # -- tags and properties ----------------------------------------------------------------------
    def tag(self, key: str, value: Any = None) -> None:
        self._emit("tag", key, "" if value is None else str(value))

    def set_tags(self, tags: dict) -> None:
        for k, v in tags.items():
            self.tag(k, v)

    def add_properties(self, properties: dict) -> None:
        for k, v in properties.items():
            self._emit("property", k, str(v))

    # -- child runs ------------------------------------------------------------------------------
    def child_run(self, name: str | None = None, run_id: str | None = None, outputs: str | None = None) -> Run:
        """A child run whose metrics are kept apart (v1: ``with run.child_run("alpha0.1") as child:``).

        Its lines go to ``logs/child_runs/<id>/metrics.jsonl``; the control plane makes it a run of the
        experiment, with this run as its parent, when this run is collected."""
        child_id = run_id or f"{self.experiment.name}_{int(time.time())}_{secrets.token_hex(4)}"
        child = Run(child_id, self.experiment.name, self.run_dir, self.offline, self.input_datasets)
        child._metrics_path = self.run_dir / "logs" / "child_runs" / child_id / "metrics.jsonl"
        child.parent, child.name = self, name
        child._emit("child_start", name, child_id)
        return child

    def __enter__(self) -> Run:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self.parent is not None:
            self._emit("child_status", None, "Failed" if exc_type else "Completed")

    def complete(self) -> None:
        """Kept for v1 scripts; the supervisor records completion (a child run records it here)."""
        if self.parent is not None:
            self._emit("child_status", None, "Completed")

    def fail(self, error_details: str | None = None) -> None:
        """Kept for v1 scripts: a script fails a run by exiting non-zero (a child run is marked Failed)."""
        if self.parent is not None:
            self._emit("child_status", None, "Failed", error=error_details)

    def __repr__(self) -> str:
        return f"Run(id={self.id!r}, experiment={self.experiment.name!r}, offline={self.offline})"


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        try:
            return value.item()
        except (ValueError, TypeError):
            pass
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def parse_confusion_matrix(value: Any, labels: list | None = None) -> tuple[list[list], list[str]]:
    """(rows, labels) from v1's schema dict or its JSON text, or from a matrix plus labels (pure)."""
    if isinstance(value, str):
        value = json.loads(value)
    if isinstance(value, dict):
        data = value.get("data")
        if value.get("schema_type") != "confusion_matrix" or not isinstance(data, dict) or \
                "matrix" not in data:
            raise ValueError("a confusion matrix dict needs schema_type 'confusion_matrix' and data with "
                             "'class_labels' and 'matrix' (Azure ML v1's schema)")
        value, labels = data["matrix"], data.get("class_labels", labels)
    rows = value.tolist() if hasattr(value, "tolist") else [list(r) for r in value]
    if any(len(r) != len(rows) for r in rows):
        raise ValueError(f"a confusion matrix must be square; got {len(rows)} rows of lengths "
                         f"{sorted({len(r) for r in rows})}")
    labels = [str(x) for x in (labels if labels is not None else range(len(rows)))]
    if len(labels) != len(rows):
        raise ValueError(f"{len(labels)} class labels for a {len(rows)}x{len(rows)} confusion matrix")
    return rows, labels


def render_confusion_matrix(labels: list[str], rows: list[list]) -> dict:
    """Azure ML v1's confusion matrix value, as ``get_metrics()`` returns it (pure)."""
    return {"schema_type": "confusion_matrix", "schema_version": "1.0.0",
            "data": {"class_labels": labels, "matrix": rows}}
