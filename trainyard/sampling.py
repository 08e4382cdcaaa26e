"""Hyperparameter spaces and how to sample them (Azure ML v1 HyperDrive names and definitions).

Expressions: ``choice, randint, uniform, quniform, loguniform, qloguniform, normal, qnormal, lognormal,
qlognormal`` (``loguniform(a, b)`` is ``exp(uniform(a, b))``; ``q…`` rounds to a multiple of ``q``).
Samplers: ``RandomParameterSampling`` (seedable; no configuration twice while the space allows),
``GridParameterSampling`` (choice only; the full product, in order), ``BayesianParameterSampling`` (Optuna's
TPE sampler, an optional extra; choice, uniform and quniform only).

A sampler is asked for trial ``index`` given the configurations already issued and the results so far; the
answer depends on nothing else, so a restarted sweep controller asks again and carries on.
"""

from __future__ import annotations

import itertools
import json
import math
import random
from dataclasses import dataclass
from typing import Any

from .errors import JobSpecError

MAX_DRAWS = 200  # attempts at a configuration not issued before


@dataclass(frozen=True)
class Expression:
    """One parameter's distribution: ``kind`` and its arguments, as Azure writes them."""

    kind: str
    args: tuple

    def sample(self, rng: random.Random) -> Any:
        a = self.args
        if self.kind == "choice":
            return rng.choice(a[0])
        if self.kind == "randint":
            return rng.randrange(a[0])
        base = {"uniform": lambda: rng.uniform(a[0], a[1]), "loguniform": lambda: math.exp(rng.uniform(a[0], a[1])),
                "normal": lambda: rng.gauss(a[0], a[1]), "lognormal": lambda: math.exp(rng.gauss(a[0], a[1]))}
        plain = self.kind[1:] if self.kind.startswith("q") else self.kind
        value = base[plain]()
        return quantize(value, a[2]) if plain != self.kind else value

    @property
    def is_finite(self) -> bool:
        return self.kind in ("choice", "randint")

    def values(self) -> list | range:
        """Every value of a finite expression."""
        return list(self.args[0]) if self.kind == "choice" else range(self.args[0])

    def to_dict(self) -> dict:
        return {"type": self.kind, "args": list(self.args)}

    @classmethod
    def from_dict(cls, data: dict) -> Expression:
        return cls(data["type"], tuple(tuple(a) if isinstance(a, list) else a for a in data["args"]))


def quantize(value: float, q: float) -> float:
    """``round(value / q) * q`` (Azure's q-expressions), an int when ``q`` is one (pure)."""
    out = round(value / q) * q
    return int(out) if isinstance(q, int) else float(out)


def choice(*options: Any) -> Expression:
    """One of ``options`` (``choice(1, 2, 3)``, ``choice([1, 2, 3])`` or ``choice(range(4))``)."""
    values = tuple(options[0]) if len(options) == 1 and isinstance(options[0], (list, tuple, range)) else options
    if not values:
        raise JobSpecError("choice() needs at least one option")
    return Expression("choice", (values,))


def randint(upper: int) -> Expression:
    """An integer in [0, upper)."""
    if int(upper) < 1:
        raise JobSpecError(f"randint({upper}) needs an upper bound of at least 1")
    return Expression("randint", (int(upper),))


def _bounded(kind: str, low: float, high: float, *q: float) -> Expression:
    if not low < high:
        raise JobSpecError(f"{kind}({low}, {high}): the low bound must be below the high bound")
    if q and not q[0] > 0:
        raise JobSpecError(f"{kind}: q must be positive, got {q[0]}")
    return Expression(kind, (low, high, *q))


def _spread(kind: str, mu: float, sigma: float, *q: float) -> Expression:
    if not sigma > 0:
        raise JobSpecError(f"{kind}({mu}, {sigma}): sigma must be positive")
    if q and not q[0] > 0:
        raise JobSpecError(f"{kind}: q must be positive, got {q[0]}")
    return Expression(kind, (mu, sigma, *q))


def uniform(min_value: float, max_value: float) -> Expression:
    return _bounded("uniform", min_value, max_value)


def quniform(min_value: float, max_value: float, q: float) -> Expression:
    return _bounded("quniform", min_value, max_value, q)


def loguniform(min_value: float, max_value: float) -> Expression:
    """``exp(uniform(min_value, max_value))``: the bounds are natural logarithms."""
    return _bounded("loguniform", min_value, max_value)


def qloguniform(min_value: float, max_value: float, q: float) -> Expression:
    return _bounded("qloguniform", min_value, max_value, q)


def normal(mu: float, sigma: float) -> Expression:
    return _spread("normal", mu, sigma)


def qnormal(mu: float, sigma: float, q: float) -> Expression:
    return _spread("qnormal", mu, sigma, q)


def lognormal(mu: float, sigma: float) -> Expression:
    return _spread("lognormal", mu, sigma)


def qlognormal(mu: float, sigma: float, q: float) -> Expression:
    return _spread("qlognormal", mu, sigma, q)


EXPRESSIONS = {f.__name__: f for f in (choice, randint, uniform, quniform, loguniform, qloguniform, normal,
                                       qnormal, lognormal, qlognormal)}


def config_key(params: dict) -> str:
    """A configuration as a comparable string (pure)."""
    return json.dumps(params, sort_keys=True, default=str)


class _Sampling:
    kind = ""
    supported: tuple[str, ...] = tuple(EXPRESSIONS)

    def __init__(self, parameter_space: dict[str, Expression], properties: dict | None = None):
        if not parameter_space:
            raise JobSpecError(f"{type(self).__name__} needs a non-empty parameter space")
        for name, expr in parameter_space.items():
            if not isinstance(expr, Expression):
                raise JobSpecError(f"hyperparameter {name!r} must be an expression such as choice(...) or "
                                   f"uniform(...), got {expr!r}")
            if expr.kind not in self.supported:
                raise JobSpecError(f"{type(self).__name__} supports {', '.join(self.supported)} only; "
                                   f"{name!r} is {expr.kind}")
        self.parameter_space = dict(parameter_space)
        self.properties = dict(properties or {})

    @property
    def space_size(self) -> int | None:
        """How many configurations exist (None: unbounded)."""
        if not all(e.is_finite for e in self.parameter_space.values()):
            return None
        return math.prod(len(e.values()) for e in self.parameter_space.values())

    def to_dict(self) -> dict:
        return {"type": self.kind, "properties": self.properties,
                "parameter_space": {k: e.to_dict() for k, e in self.parameter_space.items()}}

    def next_config(self, index: int, issued: list[dict], results: list[tuple[dict, float]],
                    goal: str) -> dict | None:
        """Trial ``index``'s configuration, or None when the space has no new one left."""
        raise NotImplementedError


class RandomParameterSampling(_Sampling):
    """Random draws; ``seed`` (or ``properties={"rngseed": n}``) makes a sweep reproducible."""

    kind = "random"

    def __init__(self, parameter_space: dict[str, Expression], properties: dict | None = None,
                 seed: int | None = None):
        super().__init__(parameter_space, properties)
        self.seed = seed if seed is not None else self.properties.get("rngseed", random.randrange(1 << 30))
        self.properties["rngseed"] = self.seed

    def next_config(self, index, issued, results, goal):
        size = self.space_size
        seen = {config_key(p) for p in issued}
        if size is not None and len(seen) >= size:
            return None
        rng = random.Random(f"{self.seed}:{index}")
        params = {}
        for _ in range(MAX_DRAWS):
            params = {k: e.sample(rng) for k, e in self.parameter_space.items()}
            if config_key(params) not in seen:
                return params
        if size is not None:  # small finite space nearly used up: take the first unused one in order
            return next((p for p in _product(self.parameter_space) if config_key(p) not in seen), None)
        return params


class GridParameterSampling(_Sampling):
    """Every combination of ``choice`` values, in order."""

    kind = "grid"
    supported = ("choice",)

    def next_config(self, index, issued, results, goal):
        return next(itertools.islice(_product(self.parameter_space), index, None), None)


class BayesianParameterSampling(_Sampling):
    """Optuna's TPE sampler over the finished trials (``pip install 'trainyard[sweep]'``); no early
    termination policy (as in Azure: each trial must run to the end to inform the next)."""

    kind = "bayesian"
    supported = ("choice", "uniform", "quniform")

    def __init__(self, parameter_space: dict[str, Expression], properties: dict | None = None,
                 seed: int | None = None):
        super().__init__(parameter_space, properties)
        self.seed = seed if seed is not None else self.properties.get("rngseed", 0)
        self.properties["rngseed"] = self.seed
        load_optuna()

    def next_config(self, index, issued, results, goal):
        optuna = load_optuna()
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        dists = {k: _optuna_distribution(optuna, e) for k, e in self.parameter_space.items()}
        study = optuna.create_study(direction="maximize" if goal == "MAXIMIZE" else "minimize",
                                    sampler=optuna.samplers.TPESampler(seed=self.seed + index))
        for params, value in results:
            clipped = {k: _clip(self.parameter_space[k], v) for k, v in params.items() if k in dists}
            study.add_trial(optuna.trial.create_trial(params=clipped, distributions=dists, value=value))
        trial = study.ask(dists)
        return {k: (quantize(v, self.parameter_space[k].args[2]) if self.parameter_space[k].kind == "quniform"
                    else v) for k, v in trial.params.items()}


def load_optuna():
    try:
        import optuna  # start-up time: an optional extra (trainyard[sweep]), only Bayesian sampling needs it
    except ImportError:
        raise JobSpecError("BayesianParameterSampling needs Optuna: pip install 'trainyard[sweep]' "
                           "(or use RandomParameterSampling)") from None
    return optuna


def _optuna_distribution(optuna, expr: Expression):
    if expr.kind == "choice":
        return optuna.distributions.CategoricalDistribution(list(expr.args[0]))
    return optuna.distributions.FloatDistribution(float(expr.args[0]), float(expr.args[1]))


def _clip(expr: Expression, value: Any) -> Any:
    if expr.kind == "choice":
        return value
    return min(max(float(value), float(expr.args[0])), float(expr.args[1]))


def _product(space: dict[str, Expression]):
    names = list(space)
    for combo in itertools.product(*(space[n].values() for n in names)):
        yield dict(zip(names, combo, strict=True))


SAMPLINGS = {c.kind: c for c in (RandomParameterSampling, GridParameterSampling, BayesianParameterSampling)}


def load_sampling(data: dict) -> _Sampling:
    """A sampling from its ``to_dict()`` (the sweep controller's state)."""
    space = {k: Expression.from_dict(v) for k, v in data["parameter_space"].items()}
    return SAMPLINGS[data["type"]](space, data.get("properties"))
