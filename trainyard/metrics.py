"""Reading what a job logged (``metrics.jsonl``) into Azure ML v1 shapes, and plotting it.

``get_metrics`` shapes: a scalar logged once → the value; logged again → a list; a table → column → list;
one row → column → value, several rows → column → list; ``log_list`` → the list; images → the stored path
(or a list of them).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from trainers.run import render_confusion_matrix

from .errors import TrainyardError

METRIC_KINDS = {"scalar", "list", "row", "table", "image", "confusion_matrix"}


def load_records(path: Path) -> list[dict]:
    """Parse metrics.jsonl, skipping a torn last line (the job may still be writing)."""
    records, end = load_records_from(path, 0)
    return records + load_records_from(path, end, complete_only=False)[0]


def load_records_from(path: Path, offset: int, complete_only: bool = True) -> tuple[list[dict], int]:
    """Records of the lines past byte ``offset`` and the offset after the last one read; a last line with
    no newline yet is left for the next read unless ``complete_only`` is false. Unreadable lines are
    skipped."""
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            data = fh.read()
    except FileNotFoundError:
        return [], offset
    end = data.rfind(b"\n") + 1 if complete_only else len(data)
    lines = data[:end].decode(errors="replace").splitlines()
    try:  # one parse of the whole chunk is twice as fast as one per line
        return json.loads("[" + ",".join(line for line in lines if line.strip()) + "]"), offset + end
    except json.JSONDecodeError:
        pass
    records = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records, offset + end


def compute_metrics(records: list[dict]) -> dict[str, Any]:
    """Records → ``{name: value | list | dict}`` as ``Run.get_metrics()`` returns (pure)."""
    grouped: dict[str, tuple[str, list]] = {}
    for r in records:
        if r.get("kind") in METRIC_KINDS:
            grouped.setdefault(r["name"], (r["kind"], []))[1].append(r["value"])
    out: dict[str, Any] = {}
    for name, (kind, values) in grouped.items():
        if kind in ("scalar", "image"):
            out[name] = values[0] if len(values) == 1 else values
        elif kind == "list":
            out[name] = values[-1]
        elif kind == "table":
            out[name] = values[-1]
        elif kind == "confusion_matrix":  # v1's schema dict (older runs stored {labels, matrix})
            last = values[-1]
            out[name] = render_confusion_matrix(last["labels"], last["matrix"]) if "labels" in last else last
        elif kind == "row":
            if len(values) == 1:
                out[name] = dict(values[0])
            else:
                cols: dict[str, list] = {}
                for row in values:
                    for k, v in row.items():
                        cols.setdefault(k, []).append(v)
                out[name] = cols
    return out


def compute_tags(records: list[dict], kind: str = "tag") -> dict[str, str]:
    return {r["name"]: r["value"] for r in records if r.get("kind") == kind}


def compute_series(records: list[dict]) -> dict[str, tuple[list[float], list[float]]]:
    """Numeric metrics to plot: ``{name: (steps, values)}`` (one value for a metric logged once); a missing
    step is the value's index (pure)."""
    series: dict[str, Series] = {}
    accumulate_series(series, records)
    return {k: (s.steps, s.values) for k, s in series.items()}


class Series:
    """One numeric series: parallel lists of steps, values and the times they were logged."""

    __slots__ = ("steps", "values", "times")

    def __init__(self, steps: list[float] | None = None, values: list[float] | None = None,
                 times: list[float] | None = None):
        self.steps, self.values, self.times = steps or [], values or [], times or []


def accumulate_series(series: dict[str, Series], records: list[dict]) -> None:
    """Add metric records to ``series`` in place, so a reader can feed a growing file chunk by chunk:
    a scalar appends (a missing step is the value's index), a list or table column replaces."""
    for r in records:
        kind, value, when = r.get("kind"), r.get("value"), r.get("time") or 0.0
        if kind == "scalar" and _is_number(value):
            s = series.setdefault(r["name"], Series())
            s.steps.append(r["step"] if r.get("step") is not None else len(s.values))
            s.values.append(float(value))
            s.times.append(when)
        elif kind == "list" and isinstance(value, list) and all(_is_number(v) for v in value):
            series[r["name"]] = Series(list(range(len(value))), [float(v) for v in value], [when] * len(value))
        elif kind == "table" and isinstance(value, dict):
            for col, vals in value.items():
                if isinstance(vals, list) and all(_is_number(v) for v in vals):
                    series[f"{r['name']}.{col}"] = Series(list(range(len(vals))), [float(v) for v in vals],
                                                          [when] * len(vals))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def plot_series(series: dict[str, tuple[list[float], list[float]]], dest: Path, title: str) -> Path:
    """Draw every series against its step, one panel each, and metrics logged once as bars, into a PNG."""
    try:
        import matplotlib  # start-up time: optional and slow to import, only plots need it

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # start-up time (see above)
    except ImportError as exc:
        raise TrainyardError("plotting needs matplotlib: pip install 'trainyard[plot]'") from exc
    if not series:
        raise TrainyardError("the run logged no numeric metrics to plot")
    singles = {name: values[0] for name, (_, values) in sorted(series.items()) if len(values) == 1}
    curves = sorted((name, sv) for name, sv in series.items() if name not in singles)
    n = len(curves) + bool(singles)
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.5 * cols, 3.2 * rows), squeeze=False)
    for ax, (name, (steps, values)) in zip(axes.flat, curves, strict=False):
        ax.plot(steps, values, marker="o" if len(values) < 40 else None, markersize=3)
        ax.set_title(name)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    if singles:  # metrics logged once: one bar each, labelled with the value
        ax = list(axes.flat)[len(curves)]
        bars = ax.bar(list(singles), list(singles.values()))
        ax.bar_label(bars, fmt="%.4g")
        ax.set_title("single values")
        ax.tick_params(axis="x", labelrotation=30)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(dest, dpi=100)
    plt.close(fig)
    return dest
