"""``trainyard.core.compute_target`` (v1 ``azureml.core.compute_target``)."""

from trainyard.errors import ComputeTargetException

__all__ = ["ComputeTargetException"]
