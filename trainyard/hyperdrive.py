"""HyperDrive (Azure ML SDK v1 names): tune hyperparameters with child runs on your own computes.

    from trainyard import (HyperDriveConfig, RandomParameterSampling, BanditPolicy, PrimaryMetricGoal,
                           choice, loguniform)
    config = HyperDriveConfig(run_config=src, hyperparameter_sampling=RandomParameterSampling(
                                  {"--kernel": choice("linear", "rbf"), "--penalty": loguniform(-3, 1)}),
                              policy=BanditPolicy(evaluation_interval=2, slack_factor=0.1),
                              primary_metric_name="Accuracy", primary_metric_goal=PrimaryMetricGoal.MAXIMIZE,
                              max_total_runs=12, max_concurrent_runs=4)
    hd = experiment.submit(config)            # a HyperDriveRun; its controller runs detached
    hd.wait_for_completion(show_output=True)
    best = hd.get_best_run_by_primary_metric()

This module gathers the names (``HyperDriveRun`` lives beside ``Run``; the config in ``sweepjob``, sampling in
``sampling``, policies in ``policy``) and is the sweep controller's process: ``python -m trainyard.hyperdrive
STORE_ROOT PARENT_RUN_ID`` rebuilds the workspace the sweep was started in and runs ``sweep.Controller``.
"""

from __future__ import annotations

import fcntl
import os
import sys
import traceback
from pathlib import Path

from trainers._atomic import read_json
from trainers.status import FAILED

from .errors import RunError
from .policy import BanditPolicy, MedianStoppingPolicy, NoTerminationPolicy, TruncationSelectionPolicy
from .run import HyperDriveRun
from .runstore import RunStore, experiment_of
from .sampling import (
    BayesianParameterSampling,
    GridParameterSampling,
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
from .sweep import LOCK, STATE, Controller
from .sweepjob import HyperDriveConfig, PrimaryMetricGoal
from .workspace import Workspace

__all__ = [
    "BanditPolicy", "BayesianParameterSampling", "GridParameterSampling", "HyperDriveConfig", "HyperDriveRun",
    "MedianStoppingPolicy", "NoTerminationPolicy", "PrimaryMetricGoal", "RandomParameterSampling",
    "TruncationSelectionPolicy", "choice", "lognormal", "loguniform", "normal", "qlognormal", "qloguniform",
    "qnormal", "quniform", "randint", "uniform",
]


def load_sweep_workspace(root: str, parent_id: str) -> Workspace:
    """The workspace a sweep was started in, as its state file says."""
    state = read_json(Path(root) / "experiments" / experiment_of(parent_id) / "runs" / parent_id / STATE)
    if state is None:
        raise RunError(f"{parent_id} has no sweep state under {root}", parent_id)
    where = state["workspace"]
    return Workspace.from_config(where["config"]) if where["config"] else Workspace.embedded(where["directory"])


def main(argv: list[str]) -> int:
    """The controller process: one per sweep (an exclusive lock on the parent's directory)."""
    root, parent_id = argv
    workspace = load_sweep_workspace(root, parent_id)
    store = RunStore(workspace.root)
    with open(store.run_dir(parent_id) / LOCK, "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return 0  # another controller has this sweep
        print(f"controller pid {os.getpid()} for {parent_id}", file=sys.stderr, flush=True)
        store.update(parent_id, lambda r: r.update(controller_pid=os.getpid()))
        try:
            Controller(workspace, parent_id).run()
        except Exception as exc:  # the parent must end with a reason, not stay Running forever
            print(traceback.format_exc(), file=sys.stderr, flush=True)
            store.set_status(parent_id, FAILED, f"the sweep controller crashed: {exc!r}; see "
                             "logs/controller.log in the parent's run directory")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
