"""``Experiment(workspace, name)``: a named group of runs (the class lives beside ``Run`` in ``run``,
since each names the other)."""

from .run import Experiment

__all__ = ["Experiment"]
