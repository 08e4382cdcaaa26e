"""``ScriptRunConfig`` (Azure ML v1 names): a Python way to say what job.yml says.

``to_job_spec()`` produces the same ``JobSpec`` that ``parse_job_file`` does, so both paths share every
step after it.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import Any

from .environment import Environment
from .errors import JobSpecError
from .jobspec import DEFAULT_TIMEOUT, InputSpec, JobSpec, check_command_script


class RunConfiguration:
    """The ``src.run_config`` object v1 tutorials modify after construction."""

    def __init__(self, environment: Environment | None, target: Any, arguments: list):
        self.environment = environment
        self.target = target
        self.arguments = arguments
        self.environment_variables: dict[str, str] = {}


class DockerConfiguration:
    """v1's ``DockerConfiguration(use_docker=True)``: accepted and recorded; nodes run jobs without containers
    (``env.docker.base_image`` is noted in the build log)."""

    def __init__(self, use_docker: bool | None = None, shm_size: str | None = None,
                 shared_volumes: bool | None = None, arguments: list | None = None):
        self.use_docker = use_docker
        self.shm_size = shm_size
        self.shared_volumes = shared_volumes
        self.arguments = list(arguments or [])


class ScriptRunConfig:
    def __init__(self, source_directory: str | os.PathLike, script: str | None = None,
                 arguments: list | None = None, run_config: RunConfiguration | None = None,
                 compute_target: Any = None, environment: Environment | None = None,
                 command: str | list | None = None, max_run_duration_seconds: int = DEFAULT_TIMEOUT,
                 register_model: dict | None = None, distributed_job_config: Any = None,
                 docker_runtime_config: DockerConfiguration | None = None):
        self.docker_runtime_config = docker_runtime_config
        self.source_directory = str(source_directory)
        self.script = script
        self.command = command
        self.max_run_duration_seconds = max_run_duration_seconds
        self.register_model = register_model
        self.distributed_job_config = distributed_job_config  # PyTorchConfiguration / MpiConfiguration
        self.run_config = run_config or RunConfiguration(environment, compute_target, list(arguments or []))
        if run_config is not None:
            if environment is not None:
                self.run_config.environment = environment
            if compute_target is not None:
                self.run_config.target = compute_target
            if arguments is not None:
                self.run_config.arguments = list(arguments)

    @property
    def arguments(self) -> list:
        return self.run_config.arguments

    def to_job_spec(self, experiment_name: str = "default") -> JobSpec:
        code = Path(self.source_directory).expanduser().resolve()
        if not code.is_dir():
            raise JobSpecError(f"source_directory {code} is not a directory", "source_directory")
        if self.script is None and self.command is None:
            raise JobSpecError("give ScriptRunConfig a script or a command", "script")
        inputs: dict[str, InputSpec] = {}
        words = []
        for i, arg in enumerate(self.run_config.arguments):
            consumption = getattr(arg, "to_input_spec", None)
            if consumption is not None:  # a dataset consumption object (ds.as_mount())
                spec = consumption(f"arg{i}")
                inputs[spec.name] = spec
                words.append(f"${{{{inputs.{spec.name}}}}}")
            else:
                words.append(shlex.quote(str(arg)))
        if self.command is not None:
            base = self.command if isinstance(self.command, str) else shlex.join(map(str, self.command))
            command = " ".join([base, *words])
        else:
            command = " ".join(["python", shlex.quote(self.script), *words])
            check_command_script(command, code, "script")
        target = self.run_config.target
        compute = "local" if target is None else getattr(target, "name", target)
        if not isinstance(compute, str):
            raise JobSpecError(f"compute_target must be a name or a ComputeTarget, got {target!r}",
                               "compute_target")
        env = self.run_config.environment
        dist = self.distributed_job_config.to_distribution() if self.distributed_job_config else None
        return JobSpec(
            instance_count=dist["instance_count"] if dist else 1, distribution=dist,
            command=command, code=code, experiment_name=experiment_name, inputs=inputs,
            environment=env,
            environment_variables={**(env.environment_variables if env else {}),
                                   **self.run_config.environment_variables},
            compute=compute, timeout=int(self.max_run_duration_seconds),
            register_model=self.register_model, source="ScriptRunConfig",
        )
