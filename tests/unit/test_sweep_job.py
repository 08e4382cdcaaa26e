"""Sweep jobs (Azure ML CLI v2 `type: sweep`), trial commands, and the templates' sweep.yml."""

from __future__ import annotations

import pytest

from tests.conftest import write
from trainyard import BanditPolicy, GridParameterSampling, HyperDriveConfig, RandomParameterSampling
from trainyard.errors import JobSpecError
from trainyard.jobspec import parse_job_file
from trainyard.scaffold import render_template
from trainyard.sweep import dump_job_spec, load_job_spec
from trainyard.sweepjob import parse_job_or_sweep_file, render_trial_command

SWEEP = """\
type: sweep
experiment_name: s
trial:
  code: src
  command: python train.py --lr ${{search_space.lr}} --k ${{search_space.k}} --n ${{inputs.n}}
  environment:
    requirements: requirements.txt
inputs:
  n: 3
search_space:
  lr: {type: loguniform, min_value: -6, max_value: -1}
  k: {type: choice, values: [a, b]}
sampling_algorithm: {type: random, seed: 4}
objective: {goal: minimize, primary_metric: loss}
early_termination: {type: bandit, evaluation_interval: 2, slack_amount: 0.5, delay_evaluation: 1}
limits: {max_total_trials: 6, max_concurrent_trials: 2, timeout: 600, trial_timeout: 60}
"""


def project(tmp_path, text=SWEEP):
    write(tmp_path / "src" / "train.py", "print(1)\n")
    write(tmp_path / "requirements.txt", "six\n")
    return write(tmp_path / "sweep.yml", text)


def test_sweep_yaml_becomes_a_hyperdrive_config(tmp_path):
    """Every section maps onto HyperDriveConfig; the trial is a JobSpec keeping its placeholders."""
    config = parse_job_or_sweep_file(project(tmp_path))
    assert isinstance(config, HyperDriveConfig)
    assert isinstance(config.hyperparameter_sampling, RandomParameterSampling)
    assert config.hyperparameter_sampling.seed == 4
    assert isinstance(config.policy, BanditPolicy) and config.policy.slack_amount == 0.5
    assert config.policy.evaluation_interval == 2 and config.policy.delay_evaluation == 1
    assert (config.primary_metric_name, config.primary_metric_goal) == ("loss", "MINIMIZE")
    assert (config.max_total_runs, config.max_concurrent_runs, config.max_duration_minutes) == (6, 2, 10)
    spec = config.run_config
    assert spec.timeout == 60 and spec.inputs["n"].value == 3 and "${{search_space.lr}}" in spec.command
    config.apply_overrides(["inputs.n=5"])
    assert spec.inputs["n"].value == 5 and "${{search_space.k}}" in spec.command


@pytest.mark.parametrize(("change", "words"), [
    (("limits: {", "limits: {max_trials: 3, "), "unknown key 'limits.max_trials'"),
    (("sampling_algorithm: {type: random, seed: 4}", "sampling_algorithm: sobol"), "random, grid or bayesian"),
    (("{type: choice, values: [a, b]}", "{type: choice, options: [a, b]}"), "unknown key 'search_space.k.options'"),
    (("--k ${{search_space.k}}", "--k ${{search_space.kk}}"), "search_space has no 'kk'"),
    (("type: bandit, ", "type: bandit_policy, "), "bandit, median_stopping or truncation_selection"),
    (("goal: minimize", "goal: lowest"), "maximize or minimize"),
    (("trial:\n", "colour: red\ntrial:\n"), "unknown key 'colour'"),
    (("  code: src\n", "  code: src\n  limits: {}\n"), "unknown key 'trial.limits'"),
])
def test_sweep_yaml_errors_name_the_key(tmp_path, change, words):
    """Unknown keys, unknown algorithms and dangling placeholders are errors naming what to fix."""
    with pytest.raises(JobSpecError, match=words):
        parse_job_or_sweep_file(project(tmp_path, SWEEP.replace(*change)))


def test_bayesian_with_a_policy_refused(tmp_path):
    """Bayesian sampling with an early termination policy is refused, as Azure does."""
    with pytest.raises(JobSpecError, match="does not support an early termination policy"):
        parse_job_or_sweep_file(project(tmp_path, SWEEP.replace("{type: random, seed: 4}", "bayesian")
                               .replace("type: loguniform, min_value: -6", "type: uniform, min_value: -6")))


@pytest.mark.parametrize(("command", "params", "expected"), [
    ("python t.py --lr 0.1 --k x", {"--lr": 0.25}, "python t.py --lr 0.25 --k x"),
    ("python t.py --lr=0.1", {"--lr": 0.5}, "python t.py --lr=0.5"),
    ("python t.py", {"--kernel": "rbf", "epochs": 3}, "python t.py --kernel rbf --epochs 3"),
    ("python t.py --x ${{search_space.x}}", {"x": "a b"}, "python t.py --x 'a b'"),
    ("python t.py --d ${{inputs.data}} --lr 1", {"--lr": 2}, "python t.py --d ${{inputs.data}} --lr 2"),
])
def test_trial_command(command, params, expected):
    """Placeholders are filled; flags replace the value that follows them, else are appended."""
    assert render_trial_command(command, params) == expected


def test_job_spec_round_trips_through_the_sweep_state(tmp_path):
    """The trial JobSpec survives dump → JSON → load (the controller reads it from sweep.json)."""
    import json

    spec = parse_job_or_sweep_file(project(tmp_path)).run_config
    again = load_job_spec(json.loads(json.dumps(dump_job_spec(spec))))
    assert again == spec or (again.command, again.code, again.inputs, again.timeout) == \
        (spec.command, spec.code, spec.inputs, spec.timeout)
    assert again.environment.compute_hash() == spec.environment.compute_hash()


@pytest.mark.parametrize("name", ["iris-svm", "sklearn-mnist", "keras-mnist", "pytorch-cifar"])
def test_every_template_has_a_valid_sweep(tmp_path, name):
    """Each template renders a sweep.yml that parses, with its own search space and the job's model."""
    render_template(name, tmp_path / "p", {})
    config = parse_job_or_sweep_file(tmp_path / "p" / "sweep.yml")
    job = parse_job_file(tmp_path / "p" / "job.yml")
    assert config.register_model == job.register_model and config.max_total_runs >= 8
    assert config.run_config.environment.compute_hash() == job.environment.compute_hash()
    expected = {"iris-svm": {"kernel", "penalty"}, "sklearn-mnist": {"regularization"},
                "keras-mnist": {"learning_rate", "first_layer_neurons", "second_layer_neurons", "batch_size"},
                "pytorch-cifar": {"learning_rate", "momentum"}}[name]
    assert set(config.hyperparameter_sampling.parameter_space) == expected
    if name == "keras-mnist":
        assert isinstance(config.policy, BanditPolicy)
    if name == "iris-svm":
        assert isinstance(config.hyperparameter_sampling, GridParameterSampling)
        assert config.hyperparameter_sampling.space_size == 12
