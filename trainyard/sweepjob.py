"""What a sweep is: ``HyperDriveConfig`` (Azure ML v1 names), the trial command a configuration gives, and the
Azure ML CLI v2 sweep job (``type: sweep``) that becomes one.

    type: sweep
    trial: {code, command (with ${{search_space.x}} and ${{inputs.x}}), environment, environment_variables,
            resources}
    search_space: {x: {type: choice, values: [...]}, y: {type: loguniform, min_value: -6, max_value: -1}, ...}
    sampling_algorithm: random | grid | bayesian   (or {type: random, seed: 1})
    objective: {goal: maximize, primary_metric: Accuracy}
    early_termination: {type: bandit, evaluation_interval, delay_evaluation, slack_factor | slack_amount}
                       (or median_stopping, truncation_selection with truncation_percentage)
    limits: {max_total_trials, max_concurrent_trials, timeout (s, the sweep), trial_timeout (s, each trial)}

plus the command job's ``experiment_name, display_name, description, tags, compute, inputs`` and Trainyard's
``register_model`` (registered from the best trial when the sweep completes). Unknown keys are errors.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

from .errors import JobSpecError
from .jobspec import (
    PLACEHOLDER_RE,
    JobSpec,
    _check_keys,
    _expect,
    load_job_yaml,
    parse_job_dict,
    parse_register_model,
)
from .policy import (
    BanditPolicy,
    MedianStoppingPolicy,
    NoTerminationPolicy,
    TruncationSelectionPolicy,
    _Policy,
)
from .sampling import EXPRESSIONS, SAMPLINGS, BayesianParameterSampling, _Sampling

SEARCH_SPACE_RE = re.compile(r"\$\{\{\s*search_space\.([^}\s]+)\s*\}\}")
DEFAULT_MAX_DURATION_MINUTES = 10080  # a week, as in v1


class PrimaryMetricGoal:
    MAXIMIZE = "MAXIMIZE"
    MINIMIZE = "MINIMIZE"


class HyperDriveConfig:
    """What to sweep: the trial (``run_config``, a ScriptRunConfig or JobSpec), the sampling, the metric."""

    def __init__(self, run_config: Any, hyperparameter_sampling: _Sampling, primary_metric_name: str,
                 primary_metric_goal: str, max_total_runs: int, max_concurrent_runs: int | None = None,
                 max_duration_minutes: float = DEFAULT_MAX_DURATION_MINUTES, policy: _Policy | None = None,
                 estimator: Any = None, register_model: dict | None = None):
        run_config = run_config if run_config is not None else estimator
        if run_config is None:
            raise JobSpecError("HyperDriveConfig needs run_config (a ScriptRunConfig)", "run_config")
        if not isinstance(hyperparameter_sampling, _Sampling):
            raise JobSpecError("hyperparameter_sampling must be RandomParameterSampling, GridParameterSampling or "
                               f"BayesianParameterSampling, got {hyperparameter_sampling!r}",
                               "hyperparameter_sampling")
        goal = str(primary_metric_goal).upper().removeprefix("PRIMARYMETRICGOAL.")
        if goal not in (PrimaryMetricGoal.MAXIMIZE, PrimaryMetricGoal.MINIMIZE):
            raise JobSpecError(f"primary_metric_goal must be PrimaryMetricGoal.MAXIMIZE or MINIMIZE, got "
                               f"{primary_metric_goal!r}", "primary_metric_goal")
        if not primary_metric_name:
            raise JobSpecError("primary_metric_name is required (the name the script logs)", "primary_metric_name")
        if int(max_total_runs) < 1:
            raise JobSpecError(f"max_total_runs must be at least 1, got {max_total_runs}", "max_total_runs")
        if max_concurrent_runs is not None and int(max_concurrent_runs) < 1:
            raise JobSpecError(f"max_concurrent_runs must be at least 1, got {max_concurrent_runs}",
                               "max_concurrent_runs")
        if not float(max_duration_minutes) > 0:
            raise JobSpecError("max_duration_minutes must be positive", "max_duration_minutes")
        if isinstance(hyperparameter_sampling, BayesianParameterSampling) and policy is not None and \
                not isinstance(policy, NoTerminationPolicy):
            raise JobSpecError("BayesianParameterSampling does not support an early termination policy (each "
                               "trial must finish to inform the next); drop the policy or use "
                               "RandomParameterSampling", "policy")
        self.run_config = run_config
        self.hyperparameter_sampling = hyperparameter_sampling
        self.primary_metric_name = primary_metric_name
        self.primary_metric_goal = goal
        self.max_total_runs = int(max_total_runs)
        self.max_concurrent_runs = int(max_concurrent_runs or max_total_runs)
        self.max_duration_minutes = float(max_duration_minutes)
        self.policy = policy or NoTerminationPolicy()
        self.register_model = register_model

    def apply_overrides(self, assignments: list[str]) -> None:
        """``--set inputs.x=v`` on the trial (its ``${{search_space.x}}`` placeholders are kept)."""
        spec = self.run_config
        command = spec.command
        spec.command = SEARCH_SPACE_RE.sub("0", command)
        try:
            spec.apply_overrides(assignments)
        finally:
            spec.command = command

    def to_job_spec(self, experiment_name: str) -> JobSpec:
        """The trial as a JobSpec (a ScriptRunConfig is converted as ``experiment.submit`` would)."""
        if isinstance(self.run_config, JobSpec):
            self.run_config.experiment_name = experiment_name
            return self.run_config
        return self.run_config.to_job_spec(experiment_name)

    def to_settings(self) -> dict:
        """What the controller needs, as JSON-able data."""
        return {"primary_metric_name": self.primary_metric_name, "primary_metric_goal": self.primary_metric_goal,
                "max_total_runs": self.max_total_runs, "max_concurrent_runs": self.max_concurrent_runs,
                "max_duration_minutes": self.max_duration_minutes, "policy": self.policy.to_dict(),
                "sampling": self.hyperparameter_sampling.to_dict(), "register_model": self.register_model}


def render_trial_command(command: str, params: dict[str, Any]) -> str:
    """The trial's command for ``params`` (pure): ``${{search_space.x}}`` is replaced by x's value; any
    other key is an argument flag (``--lr``, or ``lr`` meaning ``--lr``) whose value is replaced where the
    command has the flag, else appended."""
    used = set(SEARCH_SPACE_RE.findall(command))
    command = SEARCH_SPACE_RE.sub(lambda m: shlex.quote(_text(params[m.group(1)])), command)
    for key, value in params.items():
        if key in used:
            continue
        flag = key if key.startswith("-") else f"--{key}"
        words = shlex.split(command)
        hits = [i for i, w in enumerate(words) if w == flag or w.startswith(flag + "=")]
        if not hits:
            command = f"{command} {shlex.quote(flag)} {shlex.quote(_text(value))}"
            continue
        for i in hits:
            if words[i] == flag and i + 1 < len(words):
                words[i + 1] = _text(value)
            else:
                words[i] = f"{flag}={_text(value)}"
        command = " ".join(w if PLACEHOLDER_RE.fullmatch(w) else shlex.quote(w) for w in words)
    return command


def _text(value: Any) -> str:
    return repr(value) if isinstance(value, float) else str(value)


TOP_KEYS = {"$schema", "type", "experiment_name", "display_name", "description", "tags", "compute", "inputs",
            "trial", "search_space", "sampling_algorithm", "objective", "early_termination", "limits",
            "register_model"}
TRIAL_KEYS = {"code", "command", "environment", "environment_variables", "resources"}
LIMIT_KEYS = {"max_total_trials", "max_concurrent_trials", "timeout", "trial_timeout"}
# search_space entry type → the expression's arguments, in order
EXPRESSION_ARGS = {"choice": ("values",), "randint": ("upper",), "uniform": ("min_value", "max_value"),
                   "quniform": ("min_value", "max_value", "q"), "loguniform": ("min_value", "max_value"),
                   "qloguniform": ("min_value", "max_value", "q"), "normal": ("mu", "sigma"),
                   "qnormal": ("mu", "sigma", "q"), "lognormal": ("mu", "sigma"), "qlognormal": ("mu", "sigma", "q")}
POLICY_ARGS = {"bandit": (BanditPolicy, {"evaluation_interval", "delay_evaluation", "slack_factor", "slack_amount"}),
               "median_stopping": (MedianStoppingPolicy, {"evaluation_interval", "delay_evaluation"}),
               "truncation_selection": (TruncationSelectionPolicy, {"evaluation_interval", "delay_evaluation",
                                                                    "truncation_percentage"})}
GOALS = {"maximize": "MAXIMIZE", "minimize": "MINIMIZE"}


def parse_job_or_sweep_file(path: str | Path) -> JobSpec | HyperDriveConfig:
    """A job file: a command job's JobSpec, or for ``type: sweep`` a HyperDriveConfig whose ``run_config`` is
    the trial's JobSpec."""
    path = Path(path)
    data = load_job_yaml(path)
    if isinstance(data, dict) and data.get("type") == "sweep":
        return parse_sweep_dict(data, path.parent.resolve(), str(path))
    return parse_job_dict(data, path.parent.resolve(), str(path))


def parse_sweep_dict(data: dict, base: Path, path: str = "<sweep>") -> HyperDriveConfig:
    """Validate a sweep job mapping into a HyperDriveConfig (its ``run_config`` is the trial's JobSpec)."""
    _check_keys(data, TOP_KEYS, "", path)
    for required in ("trial", "search_space", "objective"):
        if required not in data:
            raise JobSpecError(f"a sweep job needs {required!r}", required, path)
    trial = _expect(data["trial"], dict, "trial", path, "a mapping (the command job each trial runs)")
    _check_keys(trial, TRIAL_KEYS, "trial.", path)
    if "command" not in trial:
        raise JobSpecError("'trial' needs a 'command'", "trial.command", path)
    command = _expect(trial["command"], str, "trial.command", path, "a string")
    space = parse_search_space(data["search_space"], path)
    for name in SEARCH_SPACE_RE.findall(command):
        if name not in space:
            raise JobSpecError(f"trial.command uses ${{{{search_space.{name}}}}} but search_space has no {name!r} "
                               f"(it has: {', '.join(space)})", f"search_space.{name}", path)
    limits = _expect(data.get("limits") or {}, dict, "limits", path, "a mapping")
    _check_keys(limits, LIMIT_KEYS, "limits.", path)
    job = {k: v for k, v in trial.items()}
    job["command"] = SEARCH_SPACE_RE.sub("0", command)  # checked as a command job with a stand-in value
    job.update({k: data[k] for k in ("experiment_name", "display_name", "description", "tags", "compute", "inputs")
                if k in data})
    if "trial_timeout" in limits:
        job["limits"] = {"timeout": limits["trial_timeout"]}
    spec = parse_job_dict(job, base, path)
    spec.command = command
    sampling = parse_sampling(data.get("sampling_algorithm", "random"), space, path)
    objective = _expect(data["objective"], dict, "objective", path, "a mapping")
    _check_keys(objective, {"goal", "primary_metric"}, "objective.", path)
    goal = str(objective.get("goal", "")).lower()
    if goal not in GOALS:
        raise JobSpecError(f"'objective.goal' must be maximize or minimize (got {objective.get('goal')!r})",
                           "objective.goal", path)
    if not isinstance(objective.get("primary_metric"), str):
        raise JobSpecError("'objective.primary_metric' must name the metric the script logs",
                           "objective.primary_metric", path)
    total = _expect(limits.get("max_total_trials", 1), int, "limits.max_total_trials", path, "an integer")
    concurrent = _expect(limits.get("max_concurrent_trials", total), int, "limits.max_concurrent_trials", path,
                         "an integer")
    timeout = _expect(limits.get("timeout", 10080 * 60), (int, float), "limits.timeout", path, "seconds")
    try:
        return HyperDriveConfig(
            run_config=spec, hyperparameter_sampling=sampling, primary_metric_name=objective["primary_metric"],
            primary_metric_goal=GOALS[goal], max_total_runs=total, max_concurrent_runs=concurrent,
            max_duration_minutes=timeout / 60, policy=parse_policy(data.get("early_termination"), path),
            register_model=parse_register_model(data["register_model"], path) if data.get("register_model")
            else None)
    except JobSpecError as exc:
        raise JobSpecError(str(exc), exc.key, path) from None


def parse_search_space(value: Any, path: str) -> dict:
    space = _expect(value, dict, "search_space", path, "a mapping of name → {type: ..., ...}")
    out = {}
    for name, entry in space.items():
        key = f"search_space.{name}"
        entry = _expect(entry, dict, key, path, "a mapping with 'type'")
        kind = entry.get("type")
        if kind not in EXPRESSION_ARGS:
            raise JobSpecError(f"{key + '.type'!r} must be one of {', '.join(EXPRESSION_ARGS)} (got {kind!r})",
                               key + ".type", path)
        _check_keys(entry, {"type", *EXPRESSION_ARGS[kind]}, key + ".", path)
        missing = [a for a in EXPRESSION_ARGS[kind] if a not in entry]
        if missing:
            raise JobSpecError(f"{key!r} ({kind}) needs {', '.join(missing)}", f"{key}.{missing[0]}", path)
        try:
            out[name] = EXPRESSIONS[kind](*(entry[a] for a in EXPRESSION_ARGS[kind]))
        except (JobSpecError, TypeError) as exc:
            raise JobSpecError(f"{key!r}: {exc}", key, path) from None
    if not out:
        raise JobSpecError("'search_space' is empty", "search_space", path)
    return out


def parse_sampling(value: Any, space: dict, path: str):
    if isinstance(value, str):
        value = {"type": value}
    value = _expect(value, dict, "sampling_algorithm", path, "random, grid, bayesian or a mapping with 'type'")
    _check_keys(value, {"type", "seed", "rule"}, "sampling_algorithm.", path)
    kind = str(value.get("type", "")).lower()
    if kind not in SAMPLINGS:
        raise JobSpecError(f"'sampling_algorithm' must be random, grid or bayesian (got {value.get('type')!r})",
                           "sampling_algorithm", path)
    if value.get("rule", "random") != "random":
        raise JobSpecError("'sampling_algorithm.rule' supports only random (not sobol)", "sampling_algorithm.rule",
                           path)
    try:
        if kind == "grid":
            return SAMPLINGS[kind](space)
        return SAMPLINGS[kind](space, seed=value.get("seed"))
    except JobSpecError as exc:
        raise JobSpecError(str(exc), "sampling_algorithm", path) from None


def parse_policy(value: Any, path: str):
    if value is None:
        return None
    value = _expect(value, dict, "early_termination", path, "a mapping with 'type'")
    kind = value.get("type")
    if kind not in POLICY_ARGS:
        raise JobSpecError(f"'early_termination.type' must be bandit, median_stopping or truncation_selection "
                           f"(got {kind!r})", "early_termination.type", path)
    cls, allowed = POLICY_ARGS[kind]
    _check_keys(value, {"type", *allowed}, "early_termination.", path)
    try:
        return cls(**{k: v for k, v in value.items() if k != "type"})
    except (JobSpecError, TypeError) as exc:
        raise JobSpecError(f"early_termination: {exc}", "early_termination", path) from None
