"""The directory the supervisor puts on a job's ``PYTHONPATH`` (after ``trainers``' own parent): it holds
``azureml``, a standard-library compatibility package, so a v1 training script's ``from azureml.core import
Run`` runs unchanged and gets ``trainers.Run``. Nothing here is imported by Trainyard itself."""

import os

PATH = os.path.dirname(os.path.abspath(__file__))
