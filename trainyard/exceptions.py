"""``trainyard.exceptions`` (v1 ``azureml.exceptions``): the error classes v1 code catches.
``WebserviceException`` joins when the deploy issue lands."""

from trainyard.errors import (
    ActivityFailedException,
    ComputeTargetException,
    TrainyardError,
    UserErrorException,
)

AzureMLException = TrainyardError  # v1's base class

__all__ = ["ActivityFailedException", "AzureMLException", "ComputeTargetException", "UserErrorException"]
