"""``trainyard.core.webservice`` (v1 ``azureml.core.webservice``).

Webservice, LocalWebservice, AciWebservice and AksWebservice are re-exported here from
``trainyard.service`` once the deploy issue lands; until then this path exists and is empty, and
``trainyard port`` reports the names as unsupported.
"""

__all__: list[str] = []
