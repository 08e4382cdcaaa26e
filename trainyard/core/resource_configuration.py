"""``trainyard.core.resource_configuration`` (v1 ``azureml.core.resource_configuration``)."""

from trainyard.model import ResourceConfiguration

__all__ = ["ResourceConfiguration"]
