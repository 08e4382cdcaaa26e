"""Trainyard: the Azure ML SDK v1 train → track → register workflow on machines you own.

Port a v1 notebook by changing its imports::

    from trainyard import Workspace, Experiment, ScriptRunConfig, Environment, CondaDependencies, Model
"""

from .compute import ComputeTarget
from .dataset import Dataset, DatasetConsumptionConfig, FileDataset
from .environment import CondaDependencies, Environment
from .errors import (
    ActivityFailedException,
    ComputeTargetException,
    DatasetError,
    JobSpecError,
    RegistryError,
    RunError,
    SnapshotError,
    TrainyardError,
    WorkspaceError,
)
from .experiment import Experiment
from .model import Model, ResourceConfiguration
from .run import Run
from .script_run_config import RunConfiguration, ScriptRunConfig
from .workspace import Workspace

__all__ = [
    "ActivityFailedException", "ComputeTarget", "ComputeTargetException", "CondaDependencies", "Dataset",
    "DatasetConsumptionConfig", "DatasetError", "Environment", "FileDataset",
    "Experiment", "JobSpecError", "Model", "RegistryError", "ResourceConfiguration", "Run", "RunConfiguration",
    "RunError", "ScriptRunConfig", "SnapshotError", "TrainyardError", "Workspace", "WorkspaceError",
]
__version__ = "0.1.0"
