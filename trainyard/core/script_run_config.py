"""``trainyard.core.script_run_config`` (v1 ``azureml.core.script_run_config``)."""

from trainyard.script_run_config import ScriptRunConfig

__all__ = ["ScriptRunConfig"]
