"""``RunDetails(run).show()``: v1's notebook widget for watching a run.

In Jupyter it displays an HTML view (status, metrics table, a small chart per series, the child runs of a
sweep with the best marked, the log tail) and refreshes it every few seconds from a background thread
until the run ends, so the kernel stays free. Elsewhere it prints a text summary and the dashboard URL.
"""

from __future__ import annotations

import html
import sys
import threading
import time
from typing import Any

from trainers.status import TERMINAL

from ..metrics import Series, accumulate_series, compute_metrics, load_records
from ..runstore import RunStore
from .index import mark_best, primary_metric
from .query import metric_goal

LOG_TAIL = 4000
SPARK_POINTS = 200


class RunDetails:
    """A live view of ``run`` (a ``trainyard.Run``); ``show()`` returns at once."""

    def __init__(self, run_instance: Any, refresh_seconds: float = 3.0):
        self.run = run_instance
        self.refresh_seconds = refresh_seconds
        self._thread: threading.Thread | None = None

    # -- what is shown --------------------------------------------------------------------------
    def snapshot(self) -> dict:
        """Everything the view shows, read through the library (status synced with the node)."""
        run = self.run
        if run.status not in TERMINAL:
            try:
                run.refresh()
            except Exception:  # the node is away: show what the store has  # noqa: BLE001
                pass
        record = run.record
        records = load_records(run.run_dir / "metrics.jsonl")
        series: dict[str, Series] = {}
        accumulate_series(series, records)
        log = run.run_dir / "logs" / "std_log.txt"
        tail = log.read_bytes()[-LOG_TAIL:].decode(errors="replace") if log.is_file() else ""
        return {"run_id": run.id, "status": record["status"], "reason": record.get("status_reason"),
                "metrics": compute_metrics(records), "series": {k: s for k, s in series.items() if len(s.values) > 1},
                "children": self._children(record), "log": tail, "url": run.get_portal_url()}

    def _children(self, record: dict) -> list[dict]:
        store = RunStore(self.run.workspace.root)
        kids = [r for r in store.iter_runs(record["experiment"]) if r.get("parent") == record["run_id"]]
        rows = []
        for r in kids:
            metrics = compute_metrics(load_records(store.run_dir(r["run_id"]) / "metrics.jsonl"))
            summary = {}
            for name, value in metrics.items():
                values = value if isinstance(value, list) else [value]
                nums = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
                if nums:
                    best = max(nums) if metric_goal(name) == "maximize" else min(nums)
                    summary[name] = {"last": nums[-1], "best": best}
            rows.append({"run_id": r["run_id"], "status": r["status"], "metrics": summary})
        mark_best(rows, primary_metric(record))
        return rows

    # -- rendering (pure) ---------------------------------------------------------------------------
    @staticmethod
    def render_text(view: dict) -> str:
        lines = [f"Run {view['run_id']}: {view['status']}" + (f" ({view['reason']})" if view["reason"] else "")]
        for name, value in view["metrics"].items():
            shown = f"{len(value)} values, last {value[-1]}" if isinstance(value, list) and value else value
            lines.append(f"  {name}: {shown}")
        for child in view["children"]:
            mark = " *best*" if child.get("best") else ""
            lines.append(f"  child {child['run_id']}: {child['status']}{mark}")
        lines.append(f"Web View: {view['url']}")
        return "\n".join(lines)

    @staticmethod
    def render_html(view: dict) -> str:
        e = html.escape
        rows = "".join(f"<tr><td>{e(str(k))}</td><td>{e(_short(v))}</td></tr>" for k, v in view["metrics"].items())
        charts = "".join(_sparkline(name, s) for name, s in sorted(view["series"].items()))
        kids = "".join(_child_row(c) for c in view["children"])
        return (f'<div class="trainyard-run-details" data-status="{e(view["status"])}">'
                f'<b>Run</b> <code>{e(view["run_id"])}</code> <b>Status</b> '
                f'<span class="ty-status">{e(view["status"])}</span> {e(view["reason"] or "")}'
                f' &middot; <a href="{e(view["url"])}" target="_blank">Web View</a>'
                f'<table class="ty-metrics"><tr><th>metric</th><th>value</th></tr>{rows}</table>'
                f'<div class="ty-charts">{charts}</div>'
                + (f'<table class="ty-children"><tr><th>child run</th><th>status</th><th>best metrics</th></tr>'
                   f'{kids}</table>' if kids else "")
                + f'<pre class="ty-log" style="max-height:200px;overflow:auto">{e(view["log"])}</pre></div>')

    # -- showing ------------------------------------------------------------------------------------
    def show(self) -> None:
        """Display the view; in a notebook it keeps refreshing in the background until the run ends."""
        ipython = _notebook_shell()
        if ipython is None:
            print(self.render_text(self.snapshot()))
            return
        from IPython.display import HTML, display  # start-up time: IPython only inside a notebook

        handle = display(HTML(self.render_html(self.snapshot())), display_id=True)
        if self.run.status in TERMINAL:
            return

        def follow() -> None:
            while True:
                time.sleep(self.refresh_seconds)
                view = self.snapshot()
                handle.update(HTML(self.render_html(view)))
                if view["status"] in TERMINAL:
                    return

        self._thread = threading.Thread(target=follow, daemon=True, name=f"RunDetails-{self.run.id}")
        self._thread.start()

    def wait(self, timeout: float | None = None) -> None:
        """Block until the background refresh has shown the run's end (for scripts and tests)."""
        if self._thread is not None:
            self._thread.join(timeout)


def _notebook_shell() -> Any:
    """The IPython shell when running inside a Jupyter kernel, else None."""
    ipython_mod = sys.modules.get("IPython")
    shell = ipython_mod.get_ipython() if ipython_mod is not None else None
    return shell if shell is not None and getattr(shell, "kernel", None) is not None else None


def _child_row(child: dict) -> str:
    e = html.escape
    best = child.get("best")
    metrics = ", ".join(f"{k}={_short(m['best'])}" for k, m in child["metrics"].items())
    return (f'<tr class="{"best" if best else ""}" style="{"background:#e6f4e6" if best else ""}">'
            f'<td>{"&#9733; best " if best else ""}{e(child["run_id"])}</td><td>{e(child["status"])}</td>'
            f'<td>{e(metrics)}</td></tr>')


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list):
        return f"[{len(value)} values] last {_short(value[-1])}" if value else "[]"
    text = str(value)
    return text if len(text) < 80 else text[:77] + "…"


def _sparkline(name: str, s: Series, width: int = 260, height: int = 90) -> str:
    """An inline SVG line chart of one series (no JavaScript, so it renders in any notebook viewer)."""
    step = max(1, len(s.values) // SPARK_POINTS)
    xs, ys = s.steps[::step], s.values[::step]
    lo_x, hi_x, lo_y, hi_y = min(xs), max(xs), min(ys), max(ys)
    sx = (width - 10) / ((hi_x - lo_x) or 1)
    sy = (height - 24) / ((hi_y - lo_y) or 1)
    points = " ".join(f"{5 + (x - lo_x) * sx:.1f},{height - 8 - (y - lo_y) * sy:.1f}" for x, y in zip(xs, ys, strict=True))
    return (f'<svg class="ty-chart" data-metric="{html.escape(name)}" width="{width}" height="{height}" '
            f'style="display:inline-block;margin:4px;border:1px solid #ddd">'
            f'<text x="5" y="12" font-size="11">{html.escape(name)} (last {s.values[-1]:.4g})</text>'
            f'<polyline fill="none" stroke="#1f77b4" stroke-width="1.5" points="{points}"/></svg>')
