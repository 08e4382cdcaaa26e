"""``trainyard.widgets`` (v1 ``azureml.widgets``): ``RunDetails(run).show()`` in a notebook."""

from trainyard.ui.widgets import RunDetails

__all__ = ["RunDetails"]
