"""``azureml.core.model`` inside a job."""

from trainers.model import Model

__all__ = ["Model"]
