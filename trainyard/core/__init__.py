"""``trainyard.core``: the Azure ML SDK v1 ``azureml.core`` paths, so a notebook ports by renaming
``azureml`` to ``trainyard``. Every module under this package re-exports the one implementation in the
ordinary ``trainyard`` modules; nothing is defined twice."""

from trainyard import __version__ as VERSION
from trainyard.compute import ComputeTarget
from trainyard.dataset import Dataset
from trainyard.datastore import Datastore
from trainyard.environment import Environment
from trainyard.experiment import Experiment
from trainyard.model import Model
from trainyard.run import Run
from trainyard.script_run_config import RunConfiguration, ScriptRunConfig
from trainyard.workspace import Workspace

ScriptRun = Run  # v1's class of a run submitted with a ScriptRunConfig

__all__ = ["VERSION", "ComputeTarget", "Dataset", "Datastore", "Environment", "Experiment", "Model", "Run",
           "RunConfiguration", "ScriptRun", "ScriptRunConfig", "Workspace"]
