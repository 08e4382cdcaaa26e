"""``trainyard.core.experiment`` (v1 ``azureml.core.experiment``)."""

from trainyard.experiment import Experiment

__all__ = ["Experiment"]
