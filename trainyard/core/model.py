"""``trainyard.core.model`` (v1 ``azureml.core.model``). ``InferenceConfig`` joins when the deploy issue
lands (``trainyard.model.InferenceConfig``)."""

from trainyard.model import Model

__all__ = ["Model"]
