"""HyperDrive end to end on the local compute: real controller process, real children, the CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from tests.conftest import REPO, TRAINYARD, run_cli, wait_until, write
from tests.e2e.sweeps import children_of, make_trial, max_in_flight
from trainyard import (
    BanditPolicy,
    Environment,
    Experiment,
    GridParameterSampling,
    HyperDriveConfig,
    HyperDriveRun,
    Model,
    PrimaryMetricGoal,
    RandomParameterSampling,
    Run,
    ScriptRunConfig,
    Workspace,
    choice,
)
from trainyard.runstore import RunStore


def iris_sweep_config(project, compute="local"):
    env = Environment.from_conda_specification("iris", project / "environment.yml")
    src = ScriptRunConfig(source_directory=project / "src", script="train.py",
                          arguments=["--kernel", "linear", "--penalty", 1.0], compute_target=compute, environment=env)
    sampling = RandomParameterSampling({"--kernel": choice("linear", "rbf", "poly", "sigmoid"),
                                        "--penalty": choice(0.5, 1, 1.5)})
    return HyperDriveConfig(run_config=src, hyperparameter_sampling=sampling,
                            policy=BanditPolicy(evaluation_interval=2, slack_factor=0.1),
                            primary_metric_name="Accuracy", primary_metric_goal=PrimaryMetricGoal.MAXIMIZE,
                            max_total_runs=12, max_concurrent_runs=4)


def check_iris_sweep(ws, hd):
    """12 children, every configuration once, never more than 4 in flight, the best model registers."""
    children = children_of(ws, hd.id)
    assert len(children) == 12 and all(c["status"] == "Completed" for c in children), \
        [(c["run_id"], c["status"], c.get("status_reason")) for c in children]
    assert max_in_flight(children) <= 4
    params = hd.get_hyperparameters()
    assert len({json.dumps(p, sort_keys=True) for p in params.values()}) == 12
    child = Run(ws, children[0]["run_id"])
    args = child.get_details()["runDefinition"]["arguments"]
    hp = params[child.id]
    assert args[args.index("--kernel") + 1] == hp["--kernel"] and float(args[args.index("--penalty") + 1]) == \
        hp["--penalty"] and args.count("--kernel") == 1
    best = hd.get_best_run_by_primary_metric()
    ranked = hd.get_children_sorted_by_primary_metric()
    assert best.id == ranked[0]["run_id"] and ranked[0]["best_primary_metric"] == max(
        r["best_primary_metric"] for r in ranked) and round(ranked[0]["best_primary_metric"], 4) == 0.9737
    model = best.register_model("sklearn-iris", "outputs/model.joblib")
    assert model.id == "sklearn-iris:1" and Model(ws, "sklearn-iris").version == 1
    assert child.parent.id == hd.id and not Experiment(ws, hd.record["experiment"]).get_runs() == []
    assert [r.id for r in Experiment(ws, hd.record["experiment"]).get_runs()] == [hd.id]


def test_v1_hyperdrive_flow_on_iris_locally(tmp_path):
    """The v1 flow: HyperDriveConfig(Random, Bandit, Accuracy, 12 runs, 4 at a time) on iris, locally."""
    made = subprocess.run([sys.executable, "-m", "scripts.scaffold", "iris-svm", "-o", str(tmp_path / "iris")],
                          cwd=REPO, capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    ws = Workspace.load()
    hd = Experiment(ws, "iris-sweep").submit(iris_sweep_config(tmp_path / "iris"))
    assert isinstance(hd, HyperDriveRun) and isinstance(Run(ws, hd.id), HyperDriveRun)
    details = hd.wait_for_completion(show_output=True, out=open(tmp_path / "out.txt", "w"))
    assert details["status"] == "Completed"
    check_iris_sweep(ws, hd)
    shown = (tmp_path / "out.txt").read_text()
    assert shown.count("Completed") >= 12 and "Best run:" in shown


def test_bandit_cancels_a_bad_configuration(tmp_path):
    """A deliberately bad configuration is canceled by Bandit, which the child's properties name."""
    make_trial(tmp_path)
    ws = Workspace.load()
    # left alone, the bad configuration would run 60 s: it must be stopped
    src = ScriptRunConfig("src", "trial.py", arguments=["--steps", 40, "--bad-steps", 600, "--sleep", 0.1])
    hd = Experiment(ws, "bandit").submit(HyperDriveConfig(
        run_config=src, hyperparameter_sampling=GridParameterSampling({"--quality": choice("good", "bad")}),
        policy=BanditPolicy(slack_factor=0.1), primary_metric_name="score",
        primary_metric_goal=PrimaryMetricGoal.MAXIMIZE, max_total_runs=2, max_concurrent_runs=2))
    hd.wait_for_completion()
    by_quality = {Run(ws, c["run_id"]).get_details()["runDefinition"]["hyperparameters"]["--quality"]: Run(ws, c["run_id"])
                  for c in children_of(ws, hd.id)}
    bad, good = by_quality["bad"], by_quality["good"]
    assert good.status == "Completed" and len(good.get_metrics()["score"]) == 40
    assert bad.status == "Canceled" and "BanditPolicy" in bad.record["status_reason"]
    props = bad.get_properties()
    assert props["early_termination_policy"] == "BanditPolicy" and float(props["early_termination_value"]) == 0.1
    assert abs(float(props["early_termination_threshold"]) - 0.9 / 1.1) < 1e-9
    scores = bad.get_metrics()["score"]
    # stopped early, not run to the end (600 steps); the margin is for a loaded machine, not the policy
    assert isinstance(scores, float) or len(scores) < 300


SWEEP_YML = """\
type: sweep
experiment_name: killed
trial:
  code: src
  command: python trial.py --x ${{search_space.x}} --sleep ${{inputs.sleep}} --steps 2
inputs:
  sleep: 0.4
search_space:
  x: {type: choice, values: [1, 2, 3, 4, 5, 6, 7, 8]}
sampling_algorithm: grid
objective: {goal: maximize, primary_metric: score}
limits: {max_total_trials: 8, max_concurrent_trials: 2}
"""


def test_killed_client_and_controller_then_attach_finishes_exactly(tmp_path):
    """Kill the submitting CLI and the controller mid-sweep (one child recorded but never created):
    `runs attach PARENT` restarts the controller and the sweep ends with exactly max_total_runs children."""
    make_trial(tmp_path)
    write(tmp_path / "sweep.yml", SWEEP_YML)
    client = subprocess.Popen([TRAINYARD, "submit", "sweep.yml"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    ws = Workspace.load()
    store = RunStore(ws.root)
    parent = wait_until(lambda: next((r for r in store.iter_runs("killed") if r.get("type") == "hyperdrive"
                                    and r.get("controller_pid")), None), what="the controller")
    wait_until(lambda: len(children_of(ws, parent["run_id"])) >= 3, what="three children")
    client.kill()
    os.kill(parent["controller_pid"], signal.SIGKILL)
    client.wait()
    state_path = store.run_dir(parent["run_id"]) / "sweep.json"
    state = json.loads(state_path.read_text())
    done = {json.dumps(t["params"]) for t in state["trials"]}
    ghost = {"index": len(state["trials"]), "run_id": f"killed_{int(time.time())}_0badc0de",
             "params": next({"x": x} for x in range(1, 9) if json.dumps({"x": x}) not in done)}
    state["trials"].append(ghost)  # as if killed between recording a child and creating it
    state_path.write_text(json.dumps(state))
    out = run_cli("runs", "attach", parent["run_id"], timeout=120)
    assert out.returncode == 0, out.stderr
    children = children_of(ws, parent["run_id"])
    assert len(children) == 8 and sorted(c["hyperparameters"]["x"] for c in children) == list(range(1, 9))
    assert ghost["run_id"] in {c["run_id"] for c in children}
    assert max_in_flight(children) <= 2
    assert all(c["status"] in ("Completed", "Failed") for c in children)
    assert store.load(parent["run_id"])["controller_pid"] != parent["controller_pid"]
    listed = run_cli("runs", "list")
    assert parent["run_id"] in listed.stdout and children[0]["run_id"] not in listed.stdout
    tree = run_cli("runs", "list", "--all")
    assert f"└ {children[0]['run_id']}" in tree.stdout
    shown = run_cli("runs", "show", parent["run_id"])
    assert "sorted by score, best first" in shown.stdout
    lines = [line for line in shown.stdout.splitlines() if line.startswith("killed_")]
    assert lines[0].split()[3] == "x=8"
    plot = run_cli("sweeps", "plot", parent["run_id"], "-o", str(tmp_path / "sweep.png"))
    assert plot.returncode == 0, plot.stderr
    assert (tmp_path / "sweep.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cancel_a_sweep_cancels_its_children(tmp_path):
    """hyperdrive_run.cancel() cancels the running children and ends the parent Canceled."""
    make_trial(tmp_path)
    ws = Workspace.load()
    src = ScriptRunConfig("src", "trial.py", arguments=["--steps", 600, "--sleep", 0.1])
    hd = Experiment(ws, "cancel").submit(HyperDriveConfig(
        run_config=src, hyperparameter_sampling=GridParameterSampling({"--x": choice(1, 2, 3)}),
        primary_metric_name="score", primary_metric_goal="MAXIMIZE", max_total_runs=3, max_concurrent_runs=2))
    wait_until(lambda: sum(c["status"] == "Running" for c in children_of(ws, hd.id)) == 2, what="two running")
    hd.cancel()
    hd.wait_for_completion(raise_on_error=False)
    assert hd.status == "Canceled"
    children = children_of(ws, hd.id)
    assert len(children) == 2 and {c["status"] for c in children} == {"Canceled"}


def test_iris_template_sweep_yml_registers_the_best_model(tmp_path):
    """`trainyard submit iris/sweep.yml`: the 12-trial grid completes and the best trial's model registers."""
    made = subprocess.run([sys.executable, "-m", "scripts.scaffold", "iris-svm", "-o", str(tmp_path / "iris")],
                          cwd=REPO, capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    out = run_cli("submit", str(tmp_path / "iris" / "sweep.yml"), "--json")
    assert out.returncode == 0, out.stderr
    details = json.loads(out.stdout)
    assert details["status"] == "Completed" and len(details["children"]) == 12
    best = details["children"][0]
    assert details["bestRunId"] == best["run_id"] and round(best["best_primary_metric"], 4) == 0.9737
    assert details["modelId"] == "sklearn-iris:1"
    assert Model(Workspace.load(), "sklearn-iris").serialize()["lineage"]["run_id"] == best["run_id"]
    assert "Best run:" in out.stderr


def test_a_failing_child_does_not_stop_the_sweep(tmp_path):
    """A child that exits non-zero is Failed; the others still run and the sweep completes. Every child runs
    the code as it was when the sweep was submitted."""
    make_trial(tmp_path)
    ws = Workspace.load()
    hd = Experiment(ws, "crashy").submit(HyperDriveConfig(
        run_config=ScriptRunConfig("src", "trial.py"), primary_metric_name="score", primary_metric_goal="MAXIMIZE",
        hyperparameter_sampling=GridParameterSampling({"--quality": choice("crash", "good", "bad")}),
        max_total_runs=3, max_concurrent_runs=1))
    write(tmp_path / "src" / "trial.py", "import sys\nsys.exit(7)\n")  # edited while the sweep runs
    hd.wait_for_completion()
    assert {c["snapshot"] for c in children_of(ws, hd.id)} == {hd.record["snapshot"]}
    statuses = {c["hyperparameters"]["--quality"]: c["status"] for c in children_of(ws, hd.id)}
    assert statuses == {"crash": "Failed", "good": "Completed", "bad": "Completed"}
    assert hd.get_best_run_by_primary_metric().record["hyperparameters"] == {"--quality": "good"}
    assert hd.get_best_run_by_primary_metric(include_failed=False) is not None


def test_max_duration_cancels_what_is_still_running(tmp_path):
    """max_duration_minutes ends the sweep: children still running are canceled, with the reason. (9 s: time
    for the controller to start both 60 s children on a loaded machine before the limit strikes.)"""
    make_trial(tmp_path)
    ws = Workspace.load()
    hd = Experiment(ws, "short").submit(HyperDriveConfig(
        run_config=ScriptRunConfig("src", "trial.py", arguments=["--steps", 600, "--sleep", 0.1]),
        hyperparameter_sampling=GridParameterSampling({"--x": choice(1, 2, 3, 4)}), primary_metric_name="score",
        primary_metric_goal="MAXIMIZE", max_total_runs=4, max_concurrent_runs=2, max_duration_minutes=0.15))
    hd.wait_for_completion()
    assert "max_duration_minutes" in hd.record["status_reason"]
    children = children_of(ws, hd.id)
    assert len(children) == 2 and {c["status"] for c in children} == {"Canceled"}
    assert all("is stopping" in c["status_reason"] for c in children)


def test_bayesian_sweep_learns_from_finished_trials(tmp_path):
    """Bayesian sampling (Optuna TPE) runs through the controller: each trial sees the finished ones' scores."""
    from trainyard import BayesianParameterSampling, uniform

    make_trial(tmp_path)
    ws = Workspace.load()
    hd = Experiment(ws, "bayes").submit(HyperDriveConfig(
        run_config=ScriptRunConfig("src", "trial.py"), primary_metric_name="score", primary_metric_goal="MAXIMIZE",
        hyperparameter_sampling=BayesianParameterSampling({"--x": uniform(0, 10)}, seed=5),
        max_total_runs=5, max_concurrent_runs=1))
    hd.wait_for_completion()
    xs = [c["hyperparameters"]["--x"] for c in children_of(ws, hd.id)]
    assert len(set(xs)) == 5 and all(0 <= x <= 10 for x in xs)
    assert hd.get_children_sorted_by_primary_metric(top=1)[0]["best_primary_metric"] == max(xs) * 0.9
