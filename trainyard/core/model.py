"""``trainyard.core.model`` (v1 ``azureml.core.model``)."""

from trainyard.inference import InferenceConfig
from trainyard.model import Model

__all__ = ["InferenceConfig", "Model"]
