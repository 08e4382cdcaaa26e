"""``trainyard.core.compute`` (v1 ``azureml.core.compute``)."""

from trainyard.compute import ComputeTarget
from trainyard.provisioning import AmlCompute

__all__ = ["AmlCompute", "ComputeTarget"]
