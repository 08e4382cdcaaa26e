"""What runs on a node: the in-job API (``Run``), the node helper and the run supervisor.

Standard library only at import, so any environment a job runs in can import it.
"""

from .run import Run

__all__ = ["Run"]
