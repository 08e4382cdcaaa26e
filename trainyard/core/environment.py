"""``trainyard.core.environment`` (v1 ``azureml.core.environment``)."""

from trainyard.environment import CondaDependencies, Environment

__all__ = ["CondaDependencies", "Environment"]
