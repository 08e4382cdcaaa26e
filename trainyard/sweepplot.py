"""Drawing a sweep: the primary metric of each child over its intervals, and a parallel-coordinates view
of the hyperparameters against the metric (one line per child)."""

from __future__ import annotations

from pathlib import Path

from .errors import TrainyardError


def compute_axis(values: list) -> tuple[list[float], list[str] | None]:
    """Positions on a parallel-coordinates axis scaled to [0, 1], and tick labels for a categorical axis
    (pure): numbers keep their order, anything else is placed by its sorted label."""
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        low, high = min(values), max(values)
        span = (high - low) or 1.0
        return [(v - low) / span for v in values], None
    labels = sorted({str(v) for v in values})
    step = 1 / max(len(labels) - 1, 1)
    return [labels.index(str(v)) * step for v in values], labels


def plot_sweep(rows: list[dict], series: dict[str, list[float]], metric: str, dest: Path, title: str) -> Path:
    """``rows``: children as ``HyperDriveRun.get_children_sorted_by_primary_metric`` gives them."""
    try:
        import matplotlib  # start-up time: optional and slow to import, only plots need it

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # start-up time (see above)
    except ImportError as exc:
        raise TrainyardError("plotting needs matplotlib: pip install 'trainyard[plot]'") from exc
    scored = [r for r in rows if r["best_primary_metric"] is not None]
    if not scored:
        raise TrainyardError(f"no child has logged {metric!r} yet; nothing to plot")
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.8))
    cmap = plt.get_cmap("viridis")
    values = [r["best_primary_metric"] for r in scored]
    low, high = min(values), max(values)
    colour = {r["run_id"]: cmap((r["best_primary_metric"] - low) / ((high - low) or 1)) for r in scored}
    for r in scored:
        ys = series.get(r["run_id"], [])
        style = "--" if r["status"] == "Canceled" else "-"
        left.plot(range(1, len(ys) + 1), ys, style, color=colour[r["run_id"]], marker="o", markersize=3,
                  label=r["run_id"].rsplit("_", 1)[-1] if len(scored) <= 12 else None)
    left.set_xlabel("interval (n-th logging of the metric)")
    left.set_ylabel(metric)
    left.set_title(f"{metric} per child (dashed: canceled)")
    left.grid(alpha=0.3)
    if len(scored) <= 12:
        left.legend(fontsize=7)
    names = sorted({k for r in scored for k in r["hyperparameters"]})
    axes = [*names, metric]
    columns = [[r["hyperparameters"].get(n, "") for r in scored] for n in names] + [values]
    positions, ticks = zip(*(compute_axis(c) for c in columns), strict=True)
    for i, r in enumerate(scored):
        right.plot(range(len(axes)), [p[i] for p in positions], color=colour[r["run_id"]], alpha=0.8)
    for x, (column, labels) in enumerate(zip(columns, ticks, strict=True)):
        right.axvline(x, color="grey", linewidth=0.8)
        if labels:
            for j, label in enumerate(labels):
                right.text(x, j / max(len(labels) - 1, 1), f" {label}", fontsize=7, va="center")
        else:
            nums = [v for v in column if isinstance(v, (int, float))]
            right.text(x, 1.02, f"{max(nums):.3g}", fontsize=7, ha="center")
            right.text(x, -0.06, f"{min(nums):.3g}", fontsize=7, ha="center")
    right.set_xticks(range(len(axes)), axes, rotation=20)
    right.set_yticks([])
    right.set_title("hyperparameters against the metric")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(dest, dpi=100)
    plt.close(fig)
    return dest
