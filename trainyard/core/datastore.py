"""``trainyard.core.datastore`` (v1 ``azureml.core.datastore``)."""

from trainyard.datastore import Datastore

__all__ = ["Datastore"]
