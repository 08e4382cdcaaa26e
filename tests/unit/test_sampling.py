"""Parameter expressions and samplers (Azure HyperDrive definitions)."""

from __future__ import annotations

import math
import random

import pytest

from trainyard import (
    BanditPolicy,
    BayesianParameterSampling,
    GridParameterSampling,
    HyperDriveConfig,
    PrimaryMetricGoal,
    RandomParameterSampling,
    choice,
    lognormal,
    loguniform,
    normal,
    qlognormal,
    qloguniform,
    qnormal,
    quniform,
    randint,
    uniform,
)
from trainyard.errors import JobSpecError
from trainyard.sampling import config_key, load_sampling


def draws(expr, n=400, seed=1):
    rng = random.Random(seed)
    return [expr.sample(rng) for _ in range(n)]


def test_expression_definitions():
    """loguniform(a, b) = exp(uniform(a, b)); q-forms are multiples of q; randint is [0, upper)."""
    assert all(math.exp(-6) <= v <= math.exp(-1) for v in draws(loguniform(-6, -1)))
    assert all(1 <= v <= 3 for v in draws(uniform(1, 3)))
    assert set(draws(randint(3))) == {0, 1, 2}
    assert set(draws(choice("a", "b"))) == {"a", "b"} and set(draws(choice(["x"]))) == {"x"}
    assert all(v % 5 == 0 and 0 <= v <= 100 for v in draws(quniform(0, 100, 5)))
    assert all(v % 2 == 0 for v in draws(qloguniform(0, 5, 2)))
    assert all(v > 0 for v in draws(lognormal(0, 1)))
    assert all(round(v / 0.5) * 0.5 == v for v in draws(qnormal(0, 1, 0.5)))
    assert all(v % 1 == 0 for v in draws(qlognormal(1, 1, 1)))
    values = draws(normal(10, 1), 2000)
    assert 9.9 < sum(values) / len(values) < 10.1


def test_bad_expressions_say_why():
    """Reversed bounds or a non-positive sigma are errors."""
    with pytest.raises(JobSpecError, match="low bound"):
        uniform(2, 1)
    with pytest.raises(JobSpecError, match="sigma"):
        normal(0, 0)


def test_random_is_seeded_and_never_repeats_while_the_space_allows():
    """Same seed, same trials; a 4×3 space yields 12 different configurations, then none."""
    space = {"--kernel": choice("linear", "rbf", "poly", "sigmoid"), "--C": choice(0.5, 1, 1.5)}
    a, b = RandomParameterSampling(space, seed=7), RandomParameterSampling(space, seed=7)
    issued: list[dict] = []
    for i in range(12):
        params = a.next_config(i, issued, [], "MAXIMIZE")
        assert params == b.next_config(i, list(issued), [], "MAXIMIZE")
        issued.append(params)
    assert len({config_key(p) for p in issued}) == 12
    assert a.next_config(12, issued, [], "MAXIMIZE") is None
    other = RandomParameterSampling(space, seed=8)
    assert [other.next_config(i, [], [], "MAXIMIZE") for i in range(4)] != issued[:4]


def test_grid_is_the_full_product_in_order():
    """Grid: every combination once, in order; choice only."""
    grid = GridParameterSampling({"a": choice(1, 2), "b": choice("x", "y", "z")})
    got = [grid.next_config(i, [], [], "MAXIMIZE") for i in range(7)]
    assert got[:6] == [{"a": a, "b": b} for a in (1, 2) for b in "xyz"] and got[6] is None
    with pytest.raises(JobSpecError, match="choice"):
        GridParameterSampling({"a": uniform(0, 1)})


def test_sampling_round_trips_for_the_controller():
    """to_dict → load_sampling keeps the space and the seed."""
    s = RandomParameterSampling({"--lr": loguniform(-6, -1), "--k": choice("a", "b")}, seed=3)
    again = load_sampling(s.to_dict())
    assert again.next_config(2, [], [], "MINIMIZE") == s.next_config(2, [], [], "MINIMIZE")


def test_bayesian_uses_tpe_and_refuses_policies_and_other_expressions():
    """Bayesian: choice/uniform/quniform only, no policy; suggestions come from Optuna within the space."""
    with pytest.raises(JobSpecError, match="choice, uniform, quniform"):
        BayesianParameterSampling({"lr": loguniform(-3, 0)})
    sampling = BayesianParameterSampling({"x": uniform(0, 10), "k": choice("a", "b"), "q": quniform(0, 10, 2)})
    with pytest.raises(JobSpecError, match="does not support an early termination policy"):
        HyperDriveConfig(run_config=object(), hyperparameter_sampling=sampling, primary_metric_name="m",
                         primary_metric_goal=PrimaryMetricGoal.MAXIMIZE, max_total_runs=4,
                         policy=BanditPolicy(slack_factor=0.1))
    results = [({"x": float(i), "k": "a", "q": 2}, -abs(i - 7)) for i in range(10)]
    params = sampling.next_config(10, [r[0] for r in results], results, "MAXIMIZE")
    assert 0 <= params["x"] <= 10 and params["k"] in ("a", "b") and params["q"] % 2 == 0
