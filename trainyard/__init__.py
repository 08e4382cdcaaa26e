"""Trainyard: the Azure ML SDK v1 train → track → register workflow on machines you own.

Port a v1 notebook by changing its imports::

    from trainyard import Workspace, Experiment, ScriptRunConfig, Environment, CondaDependencies, Model

The names below are imported on first use (PEP 562), so a command that needs only some of them does not
pay for the rest at start-up.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_SOURCES = {
    "ComputeTarget": "compute",
    "MpiConfiguration": "distribution", "PyTorchConfiguration": "distribution",
    "Dataset": "dataset", "DatasetConsumptionConfig": "dataset", "FileDataset": "dataset",
    "Datastore": "datastore", "TabularDataset": "dataset", "AmlCompute": "provisioning",
    "UserErrorException": "errors",
    "CondaDependencies": "environment", "Environment": "environment",
    "ActivityFailedException": "errors", "ComputeTargetException": "errors", "DatasetError": "errors",
    "JobSpecError": "errors", "RegistryError": "errors", "RunError": "errors", "SnapshotError": "errors",
    "TrainyardError": "errors", "WebserviceException": "errors", "WorkspaceError": "errors",
    "Experiment": "experiment",
    "InferenceConfig": "inference",
    "Model": "model", "ResourceConfiguration": "model",
    "Run": "run", "RunDetails": "ui.widgets",
    "RunConfiguration": "script_run_config", "ScriptRunConfig": "script_run_config",
    "AciWebservice": "service", "AksWebservice": "service", "LocalWebservice": "service", "Webservice": "service",
    "Workspace": "workspace",
}
__all__ = [
    "AciWebservice", "ActivityFailedException", "AksWebservice", "AmlCompute", "ComputeTarget", "ComputeTargetException", "CondaDependencies", "Dataset",
    "DatasetConsumptionConfig", "DatasetError", "Datastore", "Environment", "Experiment", "FileDataset", "InferenceConfig", "JobSpecError", "LocalWebservice",
    "Model", "MpiConfiguration", "PyTorchConfiguration", "RegistryError", "ResourceConfiguration", "Run",
    "RunConfiguration", "RunDetails", "RunError",
    "ScriptRunConfig", "SnapshotError", "TabularDataset", "TrainyardError", "UserErrorException", "Webservice",
    "WebserviceException", "Workspace", "WorkspaceError",
    # HyperDrive (trainyard.hyperdrive)
    "BanditPolicy", "BayesianParameterSampling", "GridParameterSampling", "HyperDriveConfig", "HyperDriveRun",
    "MedianStoppingPolicy", "NoTerminationPolicy", "PrimaryMetricGoal", "RandomParameterSampling",
    "TruncationSelectionPolicy", "choice", "lognormal", "loguniform", "normal", "qlognormal", "qloguniform",
    "qnormal", "quniform", "randint", "uniform",
]
_SOURCES.update({name: "hyperdrive" for name in __all__[__all__.index("BanditPolicy"):]})
__version__ = "0.1.0"

if TYPE_CHECKING:
    from .compute import ComputeTarget
    from .dataset import Dataset, DatasetConsumptionConfig, FileDataset, TabularDataset
    from .datastore import Datastore
    from .distribution import MpiConfiguration, PyTorchConfiguration
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
        UserErrorException,
        WebserviceException,
        WorkspaceError,
    )
    from .experiment import Experiment
    from .hyperdrive import (
        BanditPolicy,
        BayesianParameterSampling,
        GridParameterSampling,
        HyperDriveConfig,
        HyperDriveRun,
        MedianStoppingPolicy,
        NoTerminationPolicy,
        PrimaryMetricGoal,
        RandomParameterSampling,
        TruncationSelectionPolicy,
        choice,
        lognormal,
        loguniform,
        normal,
        qlognormal,
        qloguniform,
        qnormal,
        quniform,
        randint,
        uniform,
    )
    from .inference import InferenceConfig
    from .model import Model, ResourceConfiguration
    from .provisioning import AmlCompute
    from .run import Run
    from .script_run_config import RunConfiguration, ScriptRunConfig
    from .service import AciWebservice, AksWebservice, LocalWebservice, Webservice
    from .ui.widgets import RunDetails
    from .workspace import Workspace


def __getattr__(name: str) -> Any:
    if name not in _SOURCES:
        raise AttributeError(f"module 'trainyard' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_SOURCES[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return [*globals(), *__all__]
