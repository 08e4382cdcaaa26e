"""Child runs on the local compute: in-job ``run.child_run()``, ``submit_child``, filters, cancel."""

from __future__ import annotations

from tests.conftest import run_cli, wait_until, write
from tests.e2e.sweeps import make_trial
from trainyard import Experiment, ScriptRunConfig, Workspace

INLINE = '''
from trainers import Run
run = Run.get_context()
for alpha in (0.1, 0.5):
    with run.child_run("alpha" + str(alpha)) as child:
        child.log("alpha", alpha)
        child.log("mse", alpha * 2)
try:
    with run.child_run("broken") as child:
        child.log("mse", 9)
        raise ValueError("bad fold")
except ValueError:
    pass
run.log("best alpha", 0.1)
'''


def test_in_job_child_runs_keep_their_metrics_apart(tmp_path):
    """`with run.child_run(name) as child:` makes runs of the experiment, under the job's run, each with its
    own metrics; one left by an exception is Failed."""
    write(tmp_path / "src" / "loop.py", INLINE)
    ws = Workspace.load()
    run = Experiment(ws, "ridge").submit(ScriptRunConfig("src", "loop.py"))
    run.wait_for_completion()
    assert run.get_metrics() == {"best alpha": 0.1}
    children = {c.display_name: c for c in run.get_children()}
    assert set(children) == {"alpha0.1", "alpha0.5", "broken"}
    assert children["alpha0.5"].get_metrics() == {"alpha": 0.5, "mse": 1.0}
    assert children["alpha0.1"].status == "Completed" and children["broken"].status == "Failed"
    assert children["alpha0.1"].parent.id == run.id
    assert [c.display_name for c in run.get_children(status="Failed")] == ["broken"]
    assert run.get_details()["childRuns"] == "2 Completed, 1 Failed"
    shown = run_cli("runs", "show", children["broken"].id)
    assert f"parent:       {run.id}" in shown.stdout and "metric mse: 9" in shown.stdout
    assert [r.id for r in Experiment(ws, "ridge").get_runs()] == [run.id]
    assert len(Experiment(ws, "ridge").get_runs(include_children=True)) == 4


def test_submit_child_filters_and_cancel_cascades(tmp_path):
    """submit_child makes a child on the parent's experiment; get_children filters by tags and status;
    cancelling the parent cancels the child."""
    make_trial(tmp_path)
    ws = Workspace.load()
    exp = Experiment(ws, "family")
    parent = exp.submit(ScriptRunConfig("src", "trial.py", arguments=["--steps", 600, "--sleep", 0.1]))
    quick = parent.submit_child(ScriptRunConfig("src", "trial.py"), tags={"kind": "quick"})
    slow = parent.submit_child(ScriptRunConfig("src", "trial.py", arguments=["--steps", 600, "--sleep", 0.1]),
                               tags={"kind": "slow"})
    quick.wait_for_completion()
    assert quick.parent.id == parent.id and quick.record["parent"] == parent.id
    assert "parent" in parent.record and parent.record["parent"] is None
    assert [c.id for c in parent.get_children(tags={"kind": "slow"})] == [slow.id]
    assert [c.id for c in parent.get_children(tags="kind")] == [slow.id, quick.id]
    assert [c.id for c in parent.get_children(status="Completed")] == [quick.id]
    wait_until(lambda: slow.get_status() == "Running", what="the slow child running")
    out = run_cli("runs", "cancel", parent.id)
    assert out.returncode == 0, out.stderr
    slow.wait_for_completion(raise_on_error=False)
    assert parent.status == "Canceled" and slow.status == "Canceled"
    assert "its parent" in slow.record["status_reason"] and quick.status == "Completed"
