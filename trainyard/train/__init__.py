"""``trainyard.train`` (v1 ``azureml.train``): only ``trainyard.train.hyperdrive`` lives here."""
