"""Issue 12: the v1 module paths, the node-side azureml shim, curated environments, workspace attributes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import write
from trainers.compat import PATH as COMPAT
from trainers.supervisor import COMPAT_PATH, TRAINERS_PARENT


def test_core_paths_are_the_one_implementation():
    """trainyard.core… names are the very objects of the ordinary modules, not copies."""
    import trainyard
    from trainyard.core import Dataset, Environment, Experiment, Model, Run, ScriptRunConfig, Workspace
    from trainyard.core.compute import AmlCompute, ComputeTarget
    from trainyard.core.compute_target import ComputeTargetException
    from trainyard.core.conda_dependencies import CondaDependencies
    from trainyard.core.resource_configuration import ResourceConfiguration
    from trainyard.core.runconfig import RunConfiguration

    assert (Workspace, Experiment, Environment, Dataset, Model, Run, ScriptRunConfig) == (
        trainyard.Workspace, trainyard.Experiment, trainyard.Environment, trainyard.Dataset, trainyard.Model,
        trainyard.Run, trainyard.ScriptRunConfig)
    assert (ComputeTarget, ComputeTargetException, CondaDependencies, ResourceConfiguration, RunConfiguration) == (
        trainyard.ComputeTarget, trainyard.ComputeTargetException, trainyard.CondaDependencies,
        trainyard.ResourceConfiguration, trainyard.RunConfiguration)
    assert AmlCompute.provisioning_configuration(vm_size="STANDARD_D2_V2", max_nodes=2).max_nodes == 2


def test_missing_dataset_is_a_user_error(tmp_path):
    """Dataset.get_by_name of a missing name is caught by `except UserErrorException`, as v1 code expects."""
    from trainyard.core import Dataset, Workspace
    from trainyard.exceptions import UserErrorException

    with pytest.raises(UserErrorException, match="no dataset named 'nope'"):
        Dataset.get_by_name(Workspace.embedded(tmp_path), "nope")


def test_workspace_attributes(tmp_path):
    """location/subscription_id/resource_group come from the config (default `local`); the collections index."""
    from trainyard.core import Dataset, Environment, Workspace

    write(tmp_path / ".trainyard" / "config.json", json.dumps({"name": "w", "location": "lab-2"}))
    ws = Workspace.from_config(tmp_path)
    assert (ws.location, ws.subscription_id, ws.resource_group) == ("lab-2", "local", "local")
    write(tmp_path / "d" / "a.csv", "x\n1\n")
    Dataset.File.from_files(str(tmp_path / "d")).register(ws, "dd")
    write(tmp_path / "r.txt", "six\n")
    Environment.from_pip_requirements("e", tmp_path / "r.txt").register(ws)
    assert list(ws.datasets) == ["dd"] and ws.datasets["dd"].version == 1
    assert "e" in ws.environments and "AzureML-sklearn-1.5" in ws.environments
    target = ws.compute_targets["local"]
    assert target.type == "local" and target.provisioning_state == "Succeeded"
    assert target.get_status().serialize()["name"] == "local"
    assert ws.get_default_datastore().name == "workspaceblobstore"


def test_curated_environments_resolve_case_insensitively(tmp_path):
    """Curated names of every family resolve to pinned specs; an unknown name lists the closest names."""
    from trainyard.core import Environment, Workspace
    from trainyard.errors import EnvironmentError_

    ws = Workspace.embedded(tmp_path)
    cases = {"AzureML-sklearn-1.5": "scikit-learn==1.9.*", "azureml-sklearn-1.0-ubuntu20.04-py38-cpu":
             "scikit-learn==1.9.*", "AzureML-TensorFlow-2.3-GPU": "tensorflow==2.21.*",
             "AzureML-acpt-pytorch-2.2-cuda12.1": "torch==2.14.1", "AZUREML-PYTORCH-1.6-GPU": "torch==2.14.1"}
    for name, package in cases.items():
        assert package in Environment.get(ws, name).compute_spec()["requirements"], name
    assert Environment.get(ws, "AzureML-Minimal").compute_spec()["requirements"] == []
    with pytest.raises(EnvironmentError_, match="Closest names: AzureML-sklearn-1.5"):
        Environment.get(ws, "AzureML-sklarn-1.5")


def test_registered_environment_shadows_curated(tmp_path):
    """A registered environment of a curated name wins over the built-in one."""
    from trainyard.core import Environment, Workspace

    ws = Workspace.embedded(tmp_path)
    Environment.from_pip_requirements("AzureML-Minimal", write(tmp_path / "r.txt", "six\n")).register(ws)
    assert Environment.get(ws, "AzureML-Minimal").compute_spec()["requirements"] == ["six"]


def test_azureml_packages_dropped_from_specs(tmp_path):
    """azureml-* packages in conda and pip specs are dropped and named; the env key ignores them."""
    from trainers.envbuild import compute_env_key
    from trainyard.core import Environment

    conda = write(tmp_path / "env.yml", "dependencies:\n  - python=3.11\n  - pip:\n    - azureml-defaults\n"
                  "    - azureml_core==1.61\n    - scikit-learn\n    - azureml-dataset-runtime[fuse]\n")
    spec = Environment.from_conda_specification("e", conda).compute_spec()
    assert spec["requirements"] == ["scikit-learn"]
    assert spec["dropped"] == ["azureml-dataset-runtime[fuse]", "azureml-defaults", "azureml_core==1.61"]
    plain = write(tmp_path / "r.txt", "scikit-learn\n")
    plain_spec = Environment.from_pip_requirements("p", plain).compute_spec()
    assert "dropped" not in plain_spec
    assert compute_env_key({**spec, "python": None}, "3.11.2") == compute_env_key(plain_spec, "3.11.2")


def test_build_log_names_dropped_packages(tmp_path):
    """The environment build log says in one line which azureml packages were dropped."""
    from uv import find_uv_bin

    from trainers.envbuild import ensure_env

    with open(tmp_path / "build.log", "w") as log:
        ensure_env(tmp_path, {"kind": "venv", "python": None, "requirements": [], "image": None,
                              "dropped": ["azureml-defaults"]}, sys.executable, find_uv_bin(), log)
    lines = [line for line in (tmp_path / "build.log").read_text().splitlines() if "azureml-defaults" in line]
    assert len(lines) == 1 and "dropped" in lines[0]


V1_SCRIPT = """
from azureml.core import Run
from azureml.core.run import Run as Run2
from azureml.core.model import Model
import azureml.core
run = Run.get_context()
assert Run is Run2
run.log("acc", 0.5)
print("model at", Model.get_model_path("m"))
print("inputs", dict(run.input_datasets))
"""


def test_shim_runs_a_v1_script_unchanged(tmp_path):
    """With the supervisor's PYTHONPATH a v1 script imports azureml.core (stdlib only) and logs through
    trainers; Model.get_model_path finds the model in AZUREML_MODEL_DIR."""
    assert COMPAT_PATH == COMPAT
    write(tmp_path / "models" / "m" / "1" / "model.pkl", "w")
    script = write(tmp_path / "train.py", V1_SCRIPT)
    run_dir = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([TRAINERS_PARENT, COMPAT_PATH]),
           "TRAINYARD_RUN_ID": "e_1_abcdef12", "TRAINYARD_RUN_DIR": str(run_dir),
           "TRAINYARD_INPUTS": json.dumps({"mnist": "/data/mnist"}), "AZUREML_MODEL_DIR": str(tmp_path / "models")}
    out = subprocess.run([sys.executable, "-S", str(script)], env=env, capture_output=True, text=True,
                         cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert f"model at {tmp_path / 'models' / 'm' / '1' / 'model.pkl'}" in out.stdout
    assert "'mnist': '/data/mnist'" in out.stdout
    record = json.loads((run_dir / "logs" / "metrics.jsonl").read_text().splitlines()[0])
    assert (record["name"], record["value"]) == ("acc", 0.5)


def test_get_model_path_missing_says_what_to_do(monkeypatch):
    """A model the job was not given is an error naming where it looked and how to give it."""
    from trainers.model import Model

    monkeypatch.delenv("AZUREML_MODEL_DIR", raising=False)
    monkeypatch.setenv("TRAINYARD_INPUTS", json.dumps({"clf": "/in/clf"}))
    assert Model.get_model_path("clf") == "/in/clf"
    with pytest.raises(FileNotFoundError, match="input named 'other'"):
        Model.get_model_path("other")


def test_helper_ships_the_shim():
    """The helper shipped to SSH nodes includes the azureml shim, and its version covers it."""
    from trainyard.transport.helper import helper_files

    files = helper_files()
    assert {"node.py", "compat/azureml/core/__init__.py", "compat/azureml/core/run.py"} <= set(files)
    assert not any("__pycache__" in f for f in files)


def test_docker_configuration_and_image_environment(tmp_path):
    """v1's DockerConfiguration and Environment.from_docker_image are accepted: packages install, the image
    is recorded in the spec (nodes note it and run without containers)."""
    from trainyard.core import Environment, ScriptRunConfig
    from trainyard.core.runconfig import DockerConfiguration

    env = Environment.from_docker_image("img", "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04",
                                        pip_requirements=write(tmp_path / "r.txt", "six\nazureml-core\n"))
    assert env.compute_spec() == {"kind": "venv", "python": None, "requirements": ["six"], "dropped": ["azureml-core"],
                                  "image": "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04"}
    write(tmp_path / "src" / "train.py", "print(1)\n")
    src = ScriptRunConfig(str(tmp_path / "src"), "train.py", environment=env,
                          docker_runtime_config=DockerConfiguration(use_docker=True))
    assert src.to_job_spec("e").environment is env and src.docker_runtime_config.use_docker


def test_workspace_experiments_and_models(tmp_path):
    """ws.experiments maps each experiment with runs to an Experiment; ws.models each model to its latest version."""
    from trainyard.core import Experiment, Model, Workspace
    from trainyard.runstore import RunStore, new_record, new_run_id

    ws = Workspace.embedded(tmp_path)
    assert ws.experiments == {} and ws.models == {}
    store = RunStore(ws.root)
    for exp in ("iris", "mnist"):
        store.create(new_record(new_run_id(exp), exp))
    write(tmp_path / "m.joblib", "one")
    Model.register(ws, str(tmp_path / "m.joblib"), "clf")
    write(tmp_path / "m.joblib", "two")
    Model.register(ws, str(tmp_path / "m.joblib"), "clf")
    assert sorted(ws.experiments) == ["iris", "mnist"]
    assert isinstance(ws.experiments["iris"], Experiment) and ws.experiments["iris"].name == "iris"
    assert list(ws.models) == ["clf"] and ws.models["clf"].version == 2
