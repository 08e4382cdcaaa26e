"""The one vocabulary of run statuses (Azure ML's names), shared by nodes and the control plane.

Standard library only: nodes import it too. Import the names; never spell a status as a string elsewhere.
"""

NOT_STARTED = "NotStarted"
STARTING = "Starting"
QUEUED = "Queued"
PREPARING = "Preparing"
PROVISIONING = "Provisioning"
RUNNING = "Running"
CANCEL_REQUESTED = "CancelRequested"
FINALIZING = "Finalizing"
COMPLETED = "Completed"
FAILED = "Failed"
CANCELED = "Canceled"
NOT_RESPONDING = "NotResponding"

STATUSES = (NOT_STARTED, STARTING, QUEUED, PREPARING, PROVISIONING, RUNNING, CANCEL_REQUESTED,
            FINALIZING, COMPLETED, FAILED, CANCELED, NOT_RESPONDING)
TERMINAL = frozenset({COMPLETED, FAILED, CANCELED})


def is_terminal(status: str) -> bool:
    return status in TERMINAL
