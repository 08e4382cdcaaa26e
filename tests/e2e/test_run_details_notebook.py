"""RunDetails(run).show() executed in a real Jupyter kernel by nbclient, and outside a notebook."""

from __future__ import annotations

import re
import subprocess
import sys

import nbformat
from nbclient import NotebookClient

from tests.conftest import write
from tests.ui.browser import UI_JOB
from tests.ui.store import add_run
from trainyard import Run, Workspace

CELLS = [
    """import time
from trainyard import Experiment, ScriptRunConfig, Workspace
from trainyard.ui.widgets import RunDetails
ws = Workspace.load()
run = Experiment(ws, "nb").submit(ScriptRunConfig(source_directory="src", script="train.py",
                                  arguments=["--steps", "40", "--sleep", "0.25", "--lr", "0.5"]))""",
    """started = time.monotonic()
details = RunDetails(run, refresh_seconds=0.5)
details.show()
show_seconds = time.monotonic() - started""",
    """print("kernel free:", show_seconds < 5, run.get_status() not in ("Completed", "Failed", "Canceled"))
run.wait_for_completion()
details.wait(60)
print("final:", run.get_status())""",
]


def html_of(cell) -> str:
    return "".join(o["data"]["text/html"] for o in cell.outputs if "text/html" in o.get("data", {}))


def test_run_details_live_in_a_notebook(tmp_path):
    """In Jupyter the view shows at once, keeps the kernel free, and refreshes until Completed: status,
    metrics table, a chart per series and the log tail."""
    write(tmp_path / "src" / "train.py", UI_JOB)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    NotebookClient(nb, timeout=180, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    out = "".join(o.get("text", "") for o in nb.cells[2].outputs)
    assert "kernel free: True True" in out and "final: Completed" in out
    view = html_of(nb.cells[1])
    assert 'data-status="Completed"' in view, view[:500]
    assert re.search(r'class="ty-chart" data-metric="loss"', view) and 'data-metric="val_loss"' in view
    assert "<td>accuracy</td><td>1</td>" in view
    assert "step 39 loss" in view


def test_run_details_marks_best_child_in_notebook_html(tmp_path):
    """For a sweep parent the view lists the child runs with the best (by the primary metric) marked."""
    ws = Workspace.embedded(tmp_path)
    parent = add_run(ws.root, "sw_1700000000_0000000a", primary_metric={"name": "loss", "goal": "minimize"})
    for i, loss in enumerate((0.4, 0.1, 0.3)):
        add_run(ws.root, f"sw_170000000{i + 1}_0000000{i}", parent=parent, metrics={"loss": loss})
    from trainyard.ui.widgets import RunDetails

    details = RunDetails(Run(ws, parent))
    view = details.snapshot()
    assert [c["run_id"] for c in view["children"] if c.get("best")] == ["sw_1700000002_00000001"]
    assert "&#9733; best sw_1700000002_00000001" in details.render_html(view)


def test_run_details_outside_a_notebook_prints_a_summary(tmp_path):
    """Outside Jupyter, show() prints status, metrics and the Web View location, and returns."""
    ws = Workspace.embedded(tmp_path)
    rid = add_run(ws.root, "plain_1700000000_0000abcd", metrics={"loss": [0.5, 0.25], "acc": 0.9})
    code = ("from trainyard import Run, Workspace; from trainyard.ui.widgets import RunDetails; "
            f"RunDetails(Run(Workspace.embedded({str(tmp_path)!r}), {rid!r})).show()")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert f"Run {rid}: Completed" in out.stdout and "loss: 2 values, last 0.25" in out.stdout
    assert "acc: 0.9" in out.stdout and "Web View: file://" in out.stdout
