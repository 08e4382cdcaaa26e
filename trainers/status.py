"""The one vocabulary of run statuses (Azure ML's names), shared by nodes and the control plane.

Standard library only: nodes import it too. Import the names; never spell a status as a string elsewhere.

A run's status (run.json) follows Azure ML: NotStarted → Starting → Queued → Preparing → Running →
Finalizing → Completed | Failed | Canceled, with CancelRequested and NotResponding where they apply. A
node reports a narrower state for its part of the run (status.json): Queued, Preparing, Running, then
Completed | Failed | Canceled, or Lost when it has no record of the run; ``run_status_of`` maps one onto
the other.
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
LOST = "Lost"  # a node state only: the node has no record of the run
PAUSED = "Paused"  # suspended by a scheduler (Slurm SUSPENDED)

STATUSES = (NOT_STARTED, STARTING, QUEUED, PREPARING, PROVISIONING, RUNNING, CANCEL_REQUESTED,
            FINALIZING, COMPLETED, FAILED, CANCELED, NOT_RESPONDING, PAUSED)
TERMINAL = frozenset({COMPLETED, FAILED, CANCELED})
NODE_STATES = (QUEUED, PREPARING, RUNNING, COMPLETED, FAILED, CANCELED, LOST)
ACTIVE_ON_NODE = frozenset({PREPARING, RUNNING})  # holding a slot on the node


def is_terminal(status: str | None) -> bool:
    """Whether a run status (or node state) is final: Completed, Failed or Canceled."""
    return status in TERMINAL


def has_ended_on_node(state: str | None) -> bool:
    """Whether a node state means the run will not change there any more (terminal, or Lost)."""
    return state in TERMINAL or state == LOST


def run_status_of(node_state: str) -> str:
    """The run status a node state becomes once the run is finalized (pure): Lost → Failed."""
    return FAILED if node_state == LOST else node_state


# Service (web service) states, as Azure ML v1's Webservice.state spells them.
TRANSITIONING = "Transitioning"
HEALTHY = "Healthy"
UNHEALTHY = "Unhealthy"
SERVICE_STATES = (TRANSITIONING, HEALTHY, UNHEALTHY, FAILED)
