"""Early termination policies: each rule on synthetic series, at its boundaries."""

from __future__ import annotations

import pytest

from trainyard import BanditPolicy, MedianStoppingPolicy, NoTerminationPolicy, TruncationSelectionPolicy
from trainyard.errors import JobSpecError
from trainyard.policy import evaluation_interval_at, load_policy

MAX, MIN = "MAXIMIZE", "MINIMIZE"


@pytest.mark.parametrize(("count", "interval", "delay", "expected"), [
    (0, 1, 0, None),   # nothing logged yet
    (1, 1, 0, 1),      # the first logging is interval 1
    (1, 2, 0, None),   # interval 1 is not a multiple of 2
    (2, 2, 0, 2),
    (3, 2, 0, 2),      # judged at the latest multiple reached, not at 3
    (4, 1, 5, None),   # before delay_evaluation
    (5, 1, 5, 5),      # at delay_evaluation: applied
    (5, 2, 5, None),   # 4 is the latest multiple of 2, and it is before the delay
    (6, 2, 5, 6),
])
def test_evaluation_points(count, interval, delay, expected):
    """A policy applies at each multiple of evaluation_interval at or after delay_evaluation."""
    assert evaluation_interval_at(count, interval, delay) == expected


def test_bandit_slack_factor_maximize_boundary():
    """Bandit (slack_factor 0.1, maximize): exactly best/1.1 survives; just below it is stopped."""
    bar = 0.8 / 1.1
    policy = BanditPolicy(slack_factor=0.1)
    series = {"best": [0.8], "edge": [bar], "below": [bar - 1e-9]}
    verdicts = policy.evaluate(series, ["best", "edge", "below"], MAX)
    assert list(verdicts) == ["below"]
    v = verdicts["below"]
    assert v.policy == "BanditPolicy" and v.interval == 1 and v.threshold == pytest.approx(bar)
    assert v.detail["best"] == 0.8


def test_bandit_slack_amount_minimize_boundary():
    """Bandit (slack_amount 0.2, minimize): best + 0.2 survives, anything above is stopped."""
    policy = BanditPolicy(slack_amount=0.25)
    series = {"a": [1.0], "b": [1.25], "c": [1.2500001]}
    assert list(policy.evaluate(series, ["a", "b", "c"], MIN)) == ["c"]


def test_bandit_slack_factor_minimize():
    """Minimizing, the bar is best × (1 + slack_factor)."""
    policy = BanditPolicy(slack_factor=0.5)
    series = {"a": [2.0], "b": [3.0], "c": [3.01]}
    assert list(policy.evaluate(series, ["b", "c"], MIN)) == ["c"]


def test_bandit_compares_values_at_the_same_interval():
    """With evaluation_interval 2, a child with three values is judged on its 2nd against others' 2nd."""
    policy = BanditPolicy(evaluation_interval=2, slack_factor=0.1)
    # 'slow' is bad at interval 2 (0.5 vs 0.9) though its 3rd value is great; 'short' has not reached 2
    series = {"lead": [0.1, 0.9, 0.9], "slow": [0.9, 0.5, 0.99], "short": [0.0]}
    verdicts = policy.evaluate(series, ["slow", "short"], MAX)
    assert list(verdicts) == ["slow"] and verdicts["slow"].interval == 2 and verdicts["slow"].value == 0.5


def test_bandit_waits_for_delay_evaluation():
    """A terrible child is left alone before delay_evaluation and stopped at it."""
    policy = BanditPolicy(slack_factor=0.1, delay_evaluation=3)
    assert policy.evaluate({"good": [1, 1, 1], "bad": [0, 0]}, ["bad"], MAX) == {}
    assert list(policy.evaluate({"good": [1, 1, 1], "bad": [0, 0, 0]}, ["bad"], MAX)) == ["bad"]


def test_bandit_judges_a_child_ahead_of_the_others_where_they_are():
    """A bad child that logged more intervals than the others is compared at the latest one they reached."""
    policy = BanditPolicy(slack_factor=0.1)
    verdicts = policy.evaluate({"fast-bad": [0.1] * 30, "slow-good": [0.9]}, ["fast-bad", "slow-good"], MAX)
    assert list(verdicts) == ["fast-bad"] and verdicts["fast-bad"].interval == 1
    assert policy.evaluate({"fast-bad": [0.1] * 30, "slow-good": []}, ["fast-bad"], MAX) == {}


def test_bandit_alone_is_never_stopped():
    """The only child to reach an interval is the best there."""
    assert BanditPolicy(slack_amount=0).evaluate({"a": [0.1, 0.0]}, ["a"], MAX) == {}


def test_bandit_needs_exactly_one_slack():
    """Neither or both slacks is an error."""
    with pytest.raises(JobSpecError, match="exactly one"):
        BanditPolicy()
    with pytest.raises(JobSpecError, match="exactly one"):
        BanditPolicy(slack_factor=0.1, slack_amount=0.1)


def test_median_stopping_boundary():
    """Median: stopped when its best so far is worse than the median of the others' running averages."""
    policy = MedianStoppingPolicy()
    # others' averages up to interval 2: 0.5 and 0.7 → median 0.6
    others = {"a": [0.4, 0.6], "b": [0.6, 0.8]}
    assert policy.evaluate({**others, "c": [0.6, 0.1]}, ["c"], MAX) == {}       # best 0.6 == median
    verdict = policy.evaluate({**others, "c": [0.59, 0.1]}, ["c"], MAX)["c"]
    assert verdict.threshold == pytest.approx(0.6) and verdict.value == 0.59 and verdict.interval == 2
    assert list(policy.evaluate({**others, "c": [0.61, 0.7]}, ["c"], MIN)) == ["c"]  # minimizing: best 0.61 > 0.6


def test_median_stopping_needs_others_at_that_interval():
    """No other child has logged: nothing to compare with, no stop; once one has, the comparison is made."""
    assert MedianStoppingPolicy().evaluate({"a": [], "b": [0.9, 0.9]}, ["b"], MIN) == {}
    assert MedianStoppingPolicy().evaluate({"a": [0.1], "b": [0.9, 0.9]}, ["b"], MIN)["b"].interval == 1


def test_truncation_selection_rounds_down():
    """20 % of 5 children is 1 (the worst); 20 % of 4 is 0 (nobody)."""
    policy = TruncationSelectionPolicy(truncation_percentage=20)
    five = {"a": [0.5], "b": [0.4], "c": [0.3], "d": [0.2], "e": [0.1]}
    assert list(policy.evaluate(five, list(five), MAX)) == ["e"]
    assert list(policy.evaluate(five, list(five), MIN)) == ["a"]
    four = {k: v for k, v in five.items() if k != "e"}
    assert policy.evaluate(four, list(four), MAX) == {}


def test_truncation_selection_judges_at_the_interval():
    """The ranking uses the values at the evaluation interval, with its delay."""
    policy = TruncationSelectionPolicy(truncation_percentage=50, evaluation_interval=2, delay_evaluation=2)
    series = {"a": [0.9, 0.1], "b": [0.1, 0.9]}
    assert policy.evaluate({k: v[:1] for k, v in series.items()}, ["a", "b"], MAX) == {}
    assert list(policy.evaluate(series, ["a", "b"], MAX)) == ["a"]


def test_no_termination_and_round_trip():
    """NoTerminationPolicy never stops; every policy survives to_dict → load_policy."""
    assert NoTerminationPolicy().evaluate({"a": [0], "b": [1]}, ["a"], MAX) == {}
    for policy in (NoTerminationPolicy(), BanditPolicy(2, slack_factor=0.1, delay_evaluation=3),
                   MedianStoppingPolicy(3, 1), TruncationSelectionPolicy(30, 2, 4)):
        again = load_policy(policy.to_dict())
        assert type(again) is type(policy) and vars(again) == vars(policy)
