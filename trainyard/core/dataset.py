"""``trainyard.core.dataset`` (v1 ``azureml.core.dataset``)."""

from trainyard.dataset import Dataset

__all__ = ["Dataset"]
