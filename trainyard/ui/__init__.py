"""The web dashboard (`trainyard ui`) and the notebook widget ``RunDetails``."""

from .widgets import RunDetails

__all__ = ["RunDetails"]
