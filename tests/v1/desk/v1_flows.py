"""The v1 tutorial flows, as a notebook written for azureml-core would run them: train the Iris SVM with a
curated environment, then logistic regression on MNIST from a registered file dataset with a conda file;
register both models. Usage: python v1_flows.py COMPUTE_NAME MNIST_FOLDER (prints a JSON summary)."""

import json
import os
import sys

import azureml.core
from azureml.core import Dataset, Environment, Experiment, Model, ScriptRunConfig, Workspace
from azureml.core.compute import ComputeTarget
from azureml.core.compute_target import ComputeTargetException
from azureml.exceptions import UserErrorException

here = os.path.dirname(os.path.abspath(__file__))
compute_name, data_folder = sys.argv[1], sys.argv[2]
print("SDK version:", azureml.core.VERSION)

ws = Workspace.from_config()
print(ws.name, ws.resource_group, ws.location, ws.subscription_id, sep="\t")

try:
    compute_target = ComputeTarget(workspace=ws, name=compute_name)
    print("Found existing compute target", compute_target.name)
except ComputeTargetException:
    sys.exit(f"compute {compute_name} is missing")

# -- Iris: a curated environment ---------------------------------------------------------------------
env = Environment.get(workspace=ws, name="AzureML-sklearn-1.5")
src = ScriptRunConfig(source_directory=os.path.join(here, "iris"), script="train_iris.py",
                      arguments=["--kernel", "linear", "--penalty", 1.0], compute_target=compute_target,
                      environment=env)
run = Experiment(workspace=ws, name="iris-v1").submit(src)
run.wait_for_completion(show_output=True)
iris_metrics = run.get_metrics()
iris_model = run.register_model(model_name="sklearn-iris", model_path="outputs/model.joblib",
                                model_framework=Model.Framework.SCIKITLEARN)

# -- MNIST: a registered file dataset and a conda file that lists azureml-defaults ----------------------
try:
    mnist = Dataset.get_by_name(ws, name="mnist-v1")
except UserErrorException:
    mnist = Dataset.File.from_files(path=data_folder)
    mnist = mnist.register(workspace=ws, name="mnist-v1", description="MNIST idx files",
                           create_new_version=True)
env = Environment.from_conda_specification(name="sklearn-env", file_path=os.path.join(here, "sklearn-env.yml"))
args = ["--data-folder", mnist.as_named_input("mnist").as_mount(), "--regularization", 0.5,
        "--train-samples", 3000]
src = ScriptRunConfig(source_directory=os.path.join(here, "mnist"), script="train.py", arguments=args,
                      compute_target=compute_target, environment=env)
run = Experiment(workspace=ws, name="sklearn-mnist-v1").submit(config=src)
run.wait_for_completion(show_output=False)
mnist_metrics = run.get_metrics()
mnist_model = run.register_model(model_name="sklearn_mnist", model_path="outputs/sklearn_mnist_model.pkl")
print(json.dumps({"iris": iris_metrics, "iris_model": iris_model.id, "mnist": mnist_metrics,
                  "mnist_model": mnist_model.id, "mnist_run": run.id, "models": sorted(m.name for m in Model.list(ws, latest=True))}))
