"""``trainyard.train.hyperdrive`` (v1 ``azureml.train.hyperdrive``): re-exports of ``trainyard.hyperdrive``."""

from trainyard.hyperdrive import *  # noqa: F403
from trainyard.hyperdrive import __all__  # noqa: F401
