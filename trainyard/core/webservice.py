"""``trainyard.core.webservice`` (v1 ``azureml.core.webservice``): re-exports of ``trainyard.service``."""

from trainyard.service import AciWebservice, AksWebservice, LocalWebservice, Webservice

__all__ = ["AciWebservice", "AksWebservice", "LocalWebservice", "Webservice"]
