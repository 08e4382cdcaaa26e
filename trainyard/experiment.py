"""``Experiment(workspace, name)``: a named group of runs (gets or creates, like v1)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .jobspec import JobSpec, check_experiment_name
from .runstore import RunStore
from .workspace import Workspace


class Experiment:
    def __init__(self, workspace: Workspace, name: str):
        self.workspace = workspace
        self.name = check_experiment_name(name)

    def submit(self, config: Any, tags: dict | None = None, progress: Callable[[str], None] | None = None,
               use_current_env: bool = False):
        """Submit a ScriptRunConfig (or a JobSpec); returns the Run, already started."""
        from .submission import submit

        if isinstance(config, JobSpec):
            spec = config
            spec.experiment_name = self.name
        else:
            spec = config.to_job_spec(self.name)
        return submit(self.workspace, spec, tags=tags, progress=progress, use_current_env=use_current_env)

    def get_runs(self) -> list:
        from .run import Run

        return [Run(self.workspace, r["run_id"]) for r in RunStore(self.workspace.root).list(self.name)]

    def __repr__(self) -> str:
        return f"Experiment(name={self.name!r}, workspace={self.workspace.name!r})"
