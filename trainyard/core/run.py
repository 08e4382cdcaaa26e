"""``trainyard.core.run`` (v1 ``azureml.core.run``): the client-side run. Inside a training script,
``azureml.core.run`` resolves to the node-side shim instead (``trainers``)."""

from trainyard.run import Run

__all__ = ["Run"]
