"""``trainyard.exceptions`` (v1 ``azureml.exceptions``): the error classes v1 code catches."""

from trainyard.errors import (
    ActivityFailedException,
    ComputeTargetException,
    TrainyardError,
    UserErrorException,
    WebserviceException,
)

AzureMLException = TrainyardError  # v1's base class

__all__ = ["ActivityFailedException", "AzureMLException", "ComputeTargetException", "UserErrorException",
           "WebserviceException"]
