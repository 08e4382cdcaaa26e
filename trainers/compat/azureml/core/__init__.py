"""``azureml.core`` inside a job: ``Run`` and ``Model`` from ``trainers``."""

from trainers.model import Model
from trainers.run import Run

__all__ = ["Model", "Run"]
