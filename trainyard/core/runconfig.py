"""``trainyard.core.runconfig`` (v1 ``azureml.core.runconfig``)."""

from trainyard.script_run_config import DockerConfiguration, RunConfiguration

__all__ = ["DockerConfiguration", "RunConfiguration"]
