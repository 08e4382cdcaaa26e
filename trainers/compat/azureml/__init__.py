"""Trainyard's stand-in for the ``azureml`` package inside jobs: ``azureml.core`` maps to ``trainers``.
Only the in-job API exists here (Run, Model.get_model_path); the desk-side SDK is ``trainyard.core``."""
