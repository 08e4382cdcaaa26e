"""Early termination policies (Azure ML v1 HyperDrive names), as pure functions over metric series.

A series is the primary metric of one child in logging order: ``series[k - 1]`` is its value at interval
``k`` (one interval is one logging of the primary metric). A policy is applied at each multiple of
``evaluation_interval`` that is at or after ``delay_evaluation``; a running child is judged at the latest
such interval that it and at least one other child (running or finished) have reached, against every child
that reached it (so a child that logs faster than the others is still compared with them when they catch
up, and a child alone is never stopped):

- ``BanditPolicy``: its value at ``k`` is worse than the best value at ``k`` beyond the slack:
  maximize ``v < best / (1 + slack_factor)`` or ``v < best - slack_amount``; minimize
  ``v > best * (1 + slack_factor)`` or ``v > best + slack_amount``.
- ``MedianStoppingPolicy``: its best value up to ``k`` is worse than the median of the other children's
  running averages up to ``k``.
- ``TruncationSelectionPolicy``: its value at ``k`` is among the worst ``truncation_percentage`` % (rounded
  down) of the children at ``k``.
- ``NoTerminationPolicy``: never.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from .errors import JobSpecError

MAXIMIZE, MINIMIZE = "MAXIMIZE", "MINIMIZE"


@dataclass(frozen=True)
class Verdict:
    """Why a child is stopped: the policy, the interval, its value and what it was compared with."""

    policy: str
    interval: int
    value: float
    threshold: float
    detail: dict = field(default_factory=dict)

    def describe(self) -> str:
        return (f"stopped by {self.policy} at interval {self.interval}: primary metric {self.value:.6g} "
                f"is worse than {self.threshold:.6g}")


def evaluation_interval_at(count: int, evaluation_interval: int, delay_evaluation: int) -> int | None:
    """The latest interval ≤ ``count`` at which a policy applies, or None (pure)."""
    k = (count // evaluation_interval) * evaluation_interval
    return k if k >= max(delay_evaluation, 1) else None


def is_worse(value: float, than: float, goal: str) -> bool:
    return value < than if goal == MAXIMIZE else value > than


class _Policy:
    name = ""

    def __init__(self, evaluation_interval: int = 1, delay_evaluation: int = 0):
        if int(evaluation_interval) < 1:
            raise JobSpecError(f"{self.name}: evaluation_interval must be at least 1, got {evaluation_interval}")
        if int(delay_evaluation) < 0:
            raise JobSpecError(f"{self.name}: delay_evaluation must be 0 or more, got {delay_evaluation}")
        self.evaluation_interval = int(evaluation_interval)
        self.delay_evaluation = int(delay_evaluation)

    def evaluate(self, series: dict[str, list[float]], candidates: list[str], goal: str) -> dict[str, Verdict]:
        """Verdicts for the ``candidates`` (running children) that must stop (pure)."""
        out = {}
        for run_id in candidates:
            others = max((len(s) for r, s in series.items() if r != run_id), default=0)
            k = evaluation_interval_at(min(len(series.get(run_id, [])), others), self.evaluation_interval,
                                       self.delay_evaluation)
            if k is not None:
                verdict = self.judge(series, run_id, k, goal)
                if verdict is not None:
                    out[run_id] = verdict
        return out

    def judge(self, series: dict[str, list[float]], run_id: str, k: int, goal: str) -> Verdict | None:
        raise NotImplementedError

    def to_dict(self) -> dict:
        return {"type": self.name, **{k: v for k, v in vars(self).items()}}


class NoTerminationPolicy(_Policy):
    name = "NoTerminationPolicy"

    def __init__(self) -> None:
        super().__init__()

    def judge(self, series, run_id, k, goal):
        return None

    def to_dict(self) -> dict:
        return {"type": self.name}


class BanditPolicy(_Policy):
    name = "BanditPolicy"

    def __init__(self, evaluation_interval: int = 1, slack_factor: float | None = None,
                 slack_amount: float | None = None, delay_evaluation: int = 0):
        super().__init__(evaluation_interval, delay_evaluation)
        if (slack_factor is None) == (slack_amount is None):
            raise JobSpecError("BanditPolicy needs exactly one of slack_factor and slack_amount")
        if (slack_factor if slack_factor is not None else slack_amount) < 0:
            raise JobSpecError("BanditPolicy: the slack must not be negative")
        self.slack_factor = slack_factor
        self.slack_amount = slack_amount

    def judge(self, series, run_id, k, goal):
        at_k = [s[k - 1] for s in series.values() if len(s) >= k]
        best = max(at_k) if goal == MAXIMIZE else min(at_k)
        if self.slack_factor is not None:
            bar = best / (1 + self.slack_factor) if goal == MAXIMIZE else best * (1 + self.slack_factor)
        else:
            bar = best - self.slack_amount if goal == MAXIMIZE else best + self.slack_amount
        value = series[run_id][k - 1]
        if is_worse(value, bar, goal):
            return Verdict(self.name, k, value, bar, {"best": best, "slack_factor": self.slack_factor,
                                                      "slack_amount": self.slack_amount})
        return None


class MedianStoppingPolicy(_Policy):
    name = "MedianStoppingPolicy"

    def judge(self, series, run_id, k, goal):
        averages = [statistics.fmean(s[:k]) for r, s in series.items() if r != run_id and len(s) >= k]
        if not averages:
            return None
        median = statistics.median(averages)
        own = series[run_id][:k]
        best = max(own) if goal == MAXIMIZE else min(own)
        if is_worse(best, median, goal):
            return Verdict(self.name, k, best, median, {"others": len(averages)})
        return None


class TruncationSelectionPolicy(_Policy):
    name = "TruncationSelectionPolicy"

    def __init__(self, truncation_percentage: int, evaluation_interval: int = 1, delay_evaluation: int = 0):
        super().__init__(evaluation_interval, delay_evaluation)
        if not 1 <= int(truncation_percentage) <= 99:
            raise JobSpecError(f"TruncationSelectionPolicy: truncation_percentage must be 1..99, "
                               f"got {truncation_percentage}")
        self.truncation_percentage = int(truncation_percentage)

    def judge(self, series, run_id, k, goal):
        at_k = sorted(((s[k - 1], r) for r, s in series.items() if len(s) >= k),
                      reverse=goal == MINIMIZE)  # worst first
        cut = len(at_k) * self.truncation_percentage // 100
        worst = at_k[:cut]
        if any(r == run_id for _, r in worst):
            return Verdict(self.name, k, series[run_id][k - 1], at_k[cut][0] if cut < len(at_k) else worst[-1][0],
                           {"truncated": cut, "of": len(at_k)})
        return None


POLICIES = {c.name: c for c in (NoTerminationPolicy, BanditPolicy, MedianStoppingPolicy, TruncationSelectionPolicy)}


def load_policy(data: dict | None) -> _Policy:
    """A policy from its ``to_dict()`` (the sweep controller's state)."""
    if not data:
        return NoTerminationPolicy()
    args = {k: v for k, v in data.items() if k != "type"}
    return POLICIES[data["type"]](**args)
