"""``trainyard.core.conda_dependencies`` (v1 ``azureml.core.conda_dependencies``)."""

from trainyard.environment import CondaDependencies

__all__ = ["CondaDependencies"]
