"""``azureml.core.run`` inside a job."""

from trainers.run import Run

__all__ = ["Run"]
