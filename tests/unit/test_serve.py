"""The scoring server's HTTP contract, served in-process on loopback (routes, auth, limits, errors)."""

from __future__ import annotations

import http.client
import json
import threading
from pathlib import Path

import pytest

from trainers.serve import BadRequest, Handler, Service, _Server, concurrency, parse_mlflow_rows
from trainyard.deployment import check_service_name
from trainyard.errors import WebserviceException
from trainyard.inference import render_framework_requirements

SCORE = '''
import json
calls = []
def init():
    calls.append("init")
def run(raw):
    data = json.loads(raw)["data"]
    if data == "boom":
        raise ValueError("boom requested")
    return [sum(r) for r in data]
'''


def start(tmp_path: Path, keys: dict | None = None, max_bytes: int | None = None, concurrency: int | None = None):
    (tmp_path / "src").mkdir(exist_ok=True)
    (tmp_path / "src" / "score.py").write_text(SCORE)
    (tmp_path / "service.json").write_text(json.dumps({"name": "t", "entry_script": str(tmp_path / "src" / "score.py"),
                                                       "max_request_bytes": max_bytes,
                                                       "max_concurrent_requests": concurrency}))
    (tmp_path / "keys.json").write_text(json.dumps(keys or {"auth_enabled": False}))
    service = Service(tmp_path)
    server = _Server(("127.0.0.1", 0), type("H", (Handler,), {"service": service}))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return service, server


@pytest.fixture
def server(tmp_path):
    service, srv = start(tmp_path, max_bytes=1000)
    yield srv.server_address[1], service
    srv.shutdown()
    srv.server_close()


def request(port: int, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, data


def test_liveness_and_score(server):
    """GET / says Healthy; POST /score hands run() the body as a string and returns its result as JSON."""
    port, _ = server
    assert request(port, "GET", "/") == (200, b"Healthy")
    status, body = request(port, "POST", "/score", json.dumps({"data": [[1, 2], [3, 4]]}).encode())
    assert status == 200 and json.loads(body) == [3, 7]


def test_malformed_json_is_400_and_run_error_is_500(server):
    """Malformed JSON → 400 with a message; an exception in run() → 500 with its text; still serving."""
    port, _ = server
    status, body = request(port, "POST", "/score", b"{not json")
    assert status == 400 and b"not valid JSON" in body
    status, body = request(port, "POST", "/score", b'{"data": "boom"}')
    assert status == 500 and b"ValueError: boom requested" in body
    assert request(port, "POST", "/score", b'{"data": [[1]]}') == (200, b"[1]")


def test_over_limit_is_413(server):
    """A body over max_request_bytes gets a 413 naming the limit."""
    port, _ = server
    status, body = request(port, "POST", "/score", b'{"data": [[' + b"1," * 600 + b"1]]}")
    assert status == 413 and b"limit of 1000 bytes" in body


def test_mlflow_invocations(server):
    """POST /invocations accepts MLflow's four input formats and answers {"predictions": ...}."""
    port, _ = server
    for payload in ({"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2], [3, 4]]}},
                    {"dataframe_records": [{"a": 1, "b": 2}, {"a": 3, "b": 4}]},
                    {"instances": [[1, 2], [3, 4]]}, {"inputs": [[1, 2], [3, 4]]}):
        status, body = request(port, "POST", "/invocations", json.dumps(payload).encode())
        assert status == 200 and json.loads(body) == {"predictions": [3, 7]}, payload
    status, body = request(port, "POST", "/invocations", b'{"rows": []}')
    assert status == 400 and b"dataframe_split" in body


def test_swagger_needs_inference_schema(server):
    """Without inference-schema decorators there is no swagger document, and the 404 says how to get one."""
    status, body = request(server[0], "GET", "/swagger.json")
    assert status == 404 and b"inference-schema" in body


def test_key_auth(tmp_path):
    """With keys, a request without a key or with a wrong one is a 401; either key works."""
    _, srv = start(tmp_path, keys={"auth_enabled": True, "primary": "k1", "secondary": "k2"})
    port = srv.server_address[1]
    try:
        assert request(port, "POST", "/score", b'{"data": [[1]]}')[0] == 401
        assert request(port, "POST", "/score", b'{"data": [[1]]}', {"Authorization": "Bearer nope"})[0] == 401
        for key in ("k1", "k2"):
            assert request(port, "POST", "/score", b'{"data": [[1]]}', {"Authorization": f"Bearer {key}"}) == (200, b"[1]")
        assert request(port, "GET", "/")[0] == 200  # liveness needs no key
    finally:
        srv.shutdown()
        srv.server_close()


def test_reload_keeps_old_script_when_new_one_is_broken(tmp_path):
    """Service.reload re-runs an edited entry script; a broken edit keeps the old scorer and reports why."""
    service, srv = start(tmp_path)
    port = srv.server_address[1]
    try:
        (tmp_path / "src" / "score.py").write_text(SCORE.replace("[sum(r) for r in data]", "'v2'"))
        service.reload()
        assert request(port, "POST", "/score", b'{"data": [[1]]}') == (200, b'"v2"')
        (tmp_path / "src" / "score.py").write_text("def init(:\n")
        service.reload()
        assert "SyntaxError" in service.reload_error
        assert request(port, "POST", "/score", b'{"data": [[1]]}') == (200, b'"v2"')
    finally:
        srv.shutdown()
        srv.server_close()


def test_parse_mlflow_rows_rejects_other_shapes():
    """Only MLflow's documented shapes are accepted."""
    assert parse_mlflow_rows({"instances": [1, 2]}) == [1, 2]
    with pytest.raises(BadRequest):
        parse_mlflow_rows([[1, 2]])


def test_framework_requirements():
    """No-code environments come from the framework and its version; Custom models need a score.py."""
    assert render_framework_requirements("ScikitLearn", "1.9") == ["scikit-learn==1.9.*", "joblib"]
    assert render_framework_requirements("PyTorch", "2.14.1") == ["torch==2.14.1", "numpy"]
    assert render_framework_requirements("TfKeras", None) == ["tensorflow"]
    with pytest.raises(WebserviceException, match="InferenceConfig"):
        render_framework_requirements("Custom", None)


def test_service_names_follow_azure_rules():
    """Service names: 3-32 lowercase letters, digits and dashes, as Azure ML requires."""
    assert check_service_name("scikit-learn-service") == "scikit-learn-service"
    for bad in ("ab", "Upper", "-x-", "a" * 33, "has_underscore"):
        with pytest.raises(WebserviceException):
            check_service_name(bad)


def test_get_model_path_inside_a_service(tmp_path, monkeypatch):
    """trainers.model.Model.get_model_path finds a deployed model's file under AZUREML_MODEL_DIR, in both of
    v1's layouts (one model: its version folder; several: azureml-models/)."""
    from trainers.model import Model as ServiceModel

    for name in ("iris", "other"):
        (tmp_path / "azureml-models" / name / "1").mkdir(parents=True)
        (tmp_path / "azureml-models" / name / "1" / "model.joblib").write_text("x")
    monkeypatch.delenv("TRAINYARD_MODELS_ROOT", raising=False)
    monkeypatch.setenv("AZUREML_MODEL_DIR", str(tmp_path / "azureml-models" / "iris" / "1"))
    assert ServiceModel.get_model_path("iris") == str(tmp_path / "azureml-models" / "iris" / "1" / "model.joblib")
    monkeypatch.setenv("AZUREML_MODEL_DIR", str(tmp_path / "azureml-models"))
    assert ServiceModel.get_model_path("other", 1) == str(tmp_path / "azureml-models" / "other" / "1" / "model.joblib")
    assert ServiceModel.get_model_path("iris").endswith("iris/1/model.joblib")


def concurrent_posts(port: int, n: int) -> list:
    results = []
    threads = [threading.Thread(target=lambda: results.append(request(port, "POST", "/score", b"{}")))
               for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_requests_are_served_concurrently(tmp_path):
    """Two requests are inside run() at the same time: run() waits on a two-party barrier, which only a
    server that handles requests concurrently can pass (a serial one would time out and answer 500)."""
    service, srv = start(tmp_path, concurrency=2)
    (tmp_path / "src" / "score.py").write_text(
        "import threading\nbarrier = threading.Barrier(2, timeout=10)\n"
        "def init():\n    pass\ndef run(raw):\n    barrier.wait()\n    return 'met'\n")
    service.reload()
    try:
        assert concurrent_posts(srv.server_address[1], 2) == [(200, b'"met"'), (200, b'"met"')]
    finally:
        srv.shutdown()
        srv.server_close()


def test_max_concurrent_requests_bounds_the_calls_inside_run(tmp_path):
    """With max_concurrent_requests 2, six simultaneous requests all succeed and never more than two are
    inside run() at once, while GET / still answers (the limit is on run(), not on the server)."""
    service, srv = start(tmp_path, concurrency=2)
    (tmp_path / "src" / "score.py").write_text(
        "import threading, time\nlock = threading.Lock()\ninside = [0]\npeak = [0]\n"
        "def init():\n    pass\n"
        "def run(raw):\n    with lock:\n        inside[0] += 1\n        peak[0] = max(peak[0], inside[0])\n"
        "    time.sleep(0.2)\n    with lock:\n        inside[0] -= 1\n    return peak[0]\n")
    service.reload()
    port = srv.server_address[1]
    try:
        done = []
        posts = threading.Thread(target=lambda: done.extend(concurrent_posts(port, 6)))
        posts.start()
        assert request(port, "GET", "/") == (200, b"Healthy")
        posts.join()
        assert sorted(code for code, _ in done) == [200] * 6
        assert max(json.loads(body) for _, body in done) == 2
    finally:
        srv.shutdown()
        srv.server_close()


def test_concurrency_defaults_to_one_call_at_a_time_as_azure_ml():
    assert concurrency({"max_concurrent_requests": 3}) == 3
    assert concurrency({}) == concurrency({"max_concurrent_requests": None}) == 1


def test_max_concurrent_requests_must_be_a_whole_number_of_calls():
    from trainyard.service import AksWebservice

    assert AksWebservice.deploy_configuration(replica_max_concurrent_requests=4) \
        .replica_max_concurrent_requests == 4
    for bad in (0, -1, 1.5, "2", True):
        with pytest.raises(WebserviceException, match="replica_max_concurrent_requests"):
            AksWebservice.deploy_configuration(replica_max_concurrent_requests=bad)
