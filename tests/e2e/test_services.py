"""Web services on the local compute: the iris model trained for real, deployed, scored, broken, deleted."""

from __future__ import annotations

import http.client
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.conftest import REPO, local_workspace, run_cli
from trainyard import InferenceConfig, LocalWebservice, Model, Webservice, Workspace
from trainyard.errors import WebserviceException
from trainyard.service import list_services

ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]  # setosa, virginica
SCORE = '''
import json, os, joblib
from trainers.model import Model

def init():
    global model
    model = joblib.load(Model.get_model_path("sklearn-iris"))
    assert os.path.isfile(os.path.join(os.environ["AZUREML_MODEL_DIR"], "model.joblib"))

def run(raw_data):
    rows = json.loads(raw_data)["data"]
    return {"version": 1, "classes": model.predict(rows).tolist()}
'''


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A workspace (local node root inside it) with sklearn-iris:1 trained by the iris template."""
    base = tmp_path_factory.mktemp("services")
    local_workspace(base, "svc")
    made = subprocess.run([sys.executable, "-m", "scripts.scaffold", "iris-svm", "-o", str(base / "iris")],
                          cwd=REPO, capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    out = run_cli("submit", str(base / "iris" / "job.yml"), "--json", cwd=base)
    assert out.returncode == 0, out.stderr
    yield base
    ws = Workspace.from_config(base)
    for service in Webservice.list(ws):
        service.delete()


@pytest.fixture
def ws(trained):
    ws = Workspace.from_config(trained)
    yield ws
    for service in Webservice.list(ws):
        service.delete()


def write_score(directory: Path, text: str = SCORE) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "score.py").write_text(text)
    return directory


def post(port: int, body: bytes, path: str = "/score", headers: dict | None = None, conn=None):
    own = conn is None
    conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("POST", path, body=body, headers={"Content-Type": "application/json", **(headers or {})})
    response = conn.getresponse()
    data = response.read()
    if own or response.getheader("Connection") == "close":
        conn.close()
    return response.status, data


def port_is_free(port: int) -> bool:
    """Nothing listens there, and a server may bind it (with SO_REUSEADDR, as servers do: connections the
    old server closed may linger in TIME_WAIT)."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return False
    except ConnectionRefusedError:
        pass
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            s.listen()
            return True
        except OSError:
            return False


def test_iris_nocode_deploy_answers_two_rows_then_delete_frees_the_port(ws):
    """Model.deploy with no inference config serves the iris model in its training environment (no rebuild):
    two rows → [0, 2] over /score and MLflow's /invocations; delete() frees the port and forgets it."""
    model = Model(ws, "sklearn-iris")
    service = Model.deploy(ws, "scikit-learn-service", [model])
    assert service.wait_for_deployment() == "Healthy"
    status = service.refresh()
    assert status["environment"]["cache_hit"] is True  # the environment the model was trained in
    assert service.run({"data": ROWS}) == [0, 2]
    assert service.scoring_uri == f"http://127.0.0.1:{service.port}/score"
    assert [(r["name"], r["scoring_uri"]) for r in list_services(ws)] == [("scikit-learn-service", service.scoring_uri)]
    code, body = post(service.port, json.dumps({"dataframe_split": {"columns": list("abcd"), "data": ROWS}}).encode(),
                      "/invocations")
    assert code == 200 and json.loads(body) == {"predictions": [0, 2]}
    assert "scikit-learn-service" in ws.webservices
    port = service.port
    service.delete()
    assert port_is_free(port)
    assert "scikit-learn-service" not in ws.webservices
    with pytest.raises(WebserviceException, match="no web service named"):
        Webservice(ws, "scikit-learn-service")


def test_score_py_service_with_key_auth(ws, tmp_path):
    """A score.py service with auth refuses a request without the key (401), answers with either key, and
    regen_key makes the old key stop working."""
    config = InferenceConfig("score.py", write_score(tmp_path / "src"))
    service = Model.deploy(ws, "keyed", [Model(ws, "sklearn-iris")], config,
                           LocalWebservice.deploy_configuration(auth_enabled=True))
    service.wait_for_deployment()
    code, body = post(service.port, json.dumps({"data": ROWS}).encode())
    assert code == 401 and b"Bearer" in body
    primary, secondary = service.get_keys()
    for key in (primary, secondary):
        code, body = post(service.port, json.dumps({"data": ROWS}).encode(), headers={"Authorization": f"Bearer {key}"})
        assert code == 200 and json.loads(body)["classes"] == [0, 2]
    assert service.run({"data": ROWS})["classes"] == [0, 2]
    service.regen_key("Primary")
    assert post(service.port, b'{"data": []}', headers={"Authorization": f"Bearer {primary}"})[0] == 401
    assert service.run({"data": ROWS[:1]})["classes"] == [0]


def test_reload_picks_up_an_edited_entry_script(ws, tmp_path):
    """reload() sends the edited score.py and re-runs init() in the running server: same port, no rebuild."""
    src = write_score(tmp_path / "src")
    service = Model.deploy(ws, "reloading", [Model(ws, "sklearn-iris")], InferenceConfig("score.py", src))
    service.wait_for_deployment()
    pid = service.refresh()["server_pid"]
    assert service.run({"data": ROWS})["version"] == 1
    write_score(src, SCORE.replace('"version": 1', '"version": 2'))
    service.reload()
    assert service.run({"data": ROWS}) == {"version": 2, "classes": [0, 2]}
    assert service.refresh()["server_pid"] == pid
    write_score(src, "def init(:\n")
    with pytest.raises(WebserviceException, match="SyntaxError"):
        service.reload()
    assert service.run({"data": ROWS})["version"] == 2  # the broken edit did not take the service down


def test_killed_server_comes_back_and_state_shows_the_restart(ws, tmp_path):
    """SIGKILL of the server process: the supervisor restarts it (Unhealthy meanwhile), the restart is
    counted with its cause, and the service answers again on the same port."""
    service = Model.deploy(ws, "crashy", [Model(ws, "sklearn-iris")], InferenceConfig("score.py", write_score(tmp_path / "s")))
    service.wait_for_deployment()
    port, pid = service.port, service.refresh()["server_pid"]
    os.kill(pid, signal.SIGKILL)
    seen = set()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = service.refresh()
        seen.add(status["state"])
        if status["state"] == "Healthy" and status["server_pid"] != pid:
            break
        time.sleep(0.05)
    assert "Unhealthy" in seen and status["state"] == "Healthy"
    assert status["restarts"] == 1 and "SIGKILL" in status["crashes"][-1]["cause"]
    assert service.port == port and service.run({"data": ROWS})["classes"] == [0, 2]


def test_thousand_requests_with_ten_percent_bad_input(ws, tmp_path):
    """1,000 requests on 8 connections, 10 % malformed or over the size limit: every good request gets the
    right answer, every bad one a 400/413, and the service is Healthy afterwards."""
    config = LocalWebservice.deploy_configuration(max_request_bytes=4096)
    service = Model.deploy(ws, "hammered", [Model(ws, "sklearn-iris")], InferenceConfig("score.py", write_score(tmp_path / "s")),
                           config)
    service.wait_for_deployment()
    rng = random.Random(0)
    kinds = ["good"] * 900 + ["malformed"] * 50 + ["huge"] * 50
    rng.shuffle(kinds)

    def one(args):
        i, kind = args
        if kind == "good":
            rows = [ROWS[i % 2]] * (1 + i % 3)
            code, body = post(service.port, json.dumps({"data": rows}).encode())
            return kind, code, json.loads(body)["classes"] == [0 if i % 2 == 0 else 2] * len(rows)
        if kind == "malformed":
            code, body = post(service.port, b'{"data": [[5.1, 3.5,')
            return kind, code, b"not valid JSON" in body
        code, body = post(service.port, json.dumps({"data": [ROWS[0]] * 400}).encode())
        return kind, code, b"limit of 4096 bytes" in body

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(one, enumerate(kinds)))
    expected = {"good": 200, "malformed": 400, "huge": 413}
    wrong = [r for r in results if r[1] != expected[r[0]] or not r[2]]
    assert not wrong, wrong[:5]
    assert service.state == "Healthy" and service.refresh()["restarts"] == 0


def test_init_error_fails_the_deployment_with_the_cause(ws, tmp_path):
    """An entry script whose init() raises: the service ends Failed and wait_for_deployment shows why."""
    src = write_score(tmp_path / "s", "def init():\n    raise RuntimeError('no model here')\ndef run(raw):\n    return 1\n")
    service = Model.deploy(ws, "broken", [Model(ws, "sklearn-iris")], InferenceConfig("score.py", src))
    with pytest.raises(WebserviceException, match="no model here"):
        service.wait_for_deployment(timeout_sec=120)
    assert service.state == "Failed"
    assert "RuntimeError: no model here" in service.get_logs()


def test_deploy_refuses_an_existing_name_without_overwrite(ws):
    """Deploying over an existing service needs overwrite=True; with it, the service is replaced."""
    model = Model(ws, "sklearn-iris")
    Model.deploy(ws, "twice", [model]).wait_for_deployment()
    with pytest.raises(WebserviceException, match="overwrite=True"):
        Model.deploy(ws, "twice", [model])
    again = Model.deploy(ws, "twice", [model], overwrite=True)
    assert again.wait_for_deployment() == "Healthy" and again.run({"data": ROWS}) == [0, 2]


def test_cli_deploy_test_logs_delete(trained, tmp_path):
    """`trainyard models deploy` → `services list/show/test/logs` → `services delete`, as a user would."""
    out = run_cli("models", "deploy", "sklearn-iris:1", "--name", "cli-svc", "--max-concurrent-requests", "3",
                  "--json", cwd=trained)
    assert out.returncode == 0, out.stderr
    deployed = json.loads(out.stdout)
    assert deployed["state"] == "Healthy" and deployed["scoring_uri"].endswith("/score")
    listed = json.loads(run_cli("services", "list", "--json", cwd=trained).stdout)
    assert [s["name"] for s in listed] == ["cli-svc"]
    (tmp_path / "rows.json").write_text(json.dumps({"data": ROWS}))
    tested = run_cli("services", "test", "cli-svc", "--data", str(tmp_path / "rows.json"), cwd=trained)
    assert tested.returncode == 0 and json.loads(tested.stdout) == [0, 2], tested.stderr
    assert "serving nocode_score.py" in run_cli("services", "logs", "cli-svc", cwd=trained).stdout
    shown = run_cli("services", "show", "cli-svc", cwd=trained)
    assert "Healthy" in shown.stdout and "sklearn-iris:1" in shown.stdout
    assert "concurrency: 3 run() calls at a time" in shown.stdout
    (spec,) = (trained / "node").glob("services/cli-svc/service.json")  # what the server on the node reads
    assert json.loads(spec.read_text())["max_concurrent_requests"] == 3
    missing = run_cli("services", "test", "nope", "--data", str(tmp_path / "rows.json"), cwd=trained)
    assert missing.returncode == 1 and "no web service named 'nope'" in missing.stderr
    assert run_cli("services", "delete", "cli-svc", cwd=trained).returncode == 0
    assert json.loads(run_cli("services", "list", "--json", cwd=trained).stdout) == []


def test_inference_schema_decorators_are_honoured(ws, tmp_path):
    """With inference-schema in the environment, a decorated run() gets parsed keyword arguments and
    /swagger.json describes the input and output."""
    from trainyard import CondaDependencies, Environment

    src = write_score(tmp_path / "s", '''
from inference_schema.schema_decorators import input_schema, output_schema
from inference_schema.parameter_types.standard_py_parameter_type import StandardPythonParameterType

def init():
    pass

@input_schema("data", StandardPythonParameterType([[5.1, 3.5, 1.4, 0.2]]))
@output_schema(StandardPythonParameterType([4]))
def run(data):
    return [len(row) for row in data]
''')
    env = Environment("schema")
    env.python.conda_dependencies = CondaDependencies.create(pip_packages=["inference-schema>=1.7"])
    service = Model.deploy(ws, "schema", [], InferenceConfig("score.py", src, env))
    service.wait_for_deployment(timeout_sec=300)
    assert service.run({"data": ROWS}) == [4, 4]
    conn = http.client.HTTPConnection("127.0.0.1", service.port, timeout=10)
    conn.request("GET", "/swagger.json")
    swagger = json.loads(conn.getresponse().read())
    body = swagger["paths"]["/score"]["post"]["parameters"][0]["schema"]
    assert body["properties"]["data"]["type"] == "array"
    assert swagger["paths"]["/score"]["post"]["responses"]["200"]["schema"]["example"] == [4]
    code, text = post(service.port, json.dumps([[1, 2]]).encode())
    assert code == 400 and b"inference-schema" in text


def test_update_turns_on_key_auth(ws):
    """update(auth_enabled=True) redeploys the same model on the same port with keys required."""
    service = Model.deploy(ws, "updating", [Model(ws, "sklearn-iris")])
    service.wait_for_deployment()
    port = service.port
    service.update(auth_enabled=True)
    service.wait_for_deployment()
    assert service.port == port
    assert post(port, json.dumps({"data": ROWS}).encode())[0] == 401
    assert service.run({"data": ROWS}) == [0, 2]


def test_cli_deploy_score_py_with_auth(trained, tmp_path):
    """`models deploy --entry-script --source-dir --auth`: curl-style requests need the key that
    `services show --keys` prints; `services test` sends it."""
    write_score(tmp_path / "src")
    out = run_cli("models", "deploy", "sklearn-iris", "--name", "cli-keyed", "--entry-script", "score.py",
                  "--source-dir", str(tmp_path / "src"), "--auth", cwd=trained)
    assert out.returncode == 0, out.stderr
    port = int(out.stdout.strip().rsplit(":", 1)[1].split("/")[0])
    keys = json.loads(run_cli("services", "show", "cli-keyed", "--keys", "--json", cwd=trained).stdout)["keys"]
    assert post(port, json.dumps({"data": ROWS}).encode())[0] == 401
    code, body = post(port, json.dumps({"data": ROWS}).encode(), headers={"Authorization": f"Bearer {keys['primary']}"})
    assert code == 200 and json.loads(body)["classes"] == [0, 2]
    (tmp_path / "rows.json").write_text(json.dumps({"data": ROWS}))
    tested = run_cli("services", "test", "cli-keyed", "--data", str(tmp_path / "rows.json"), cwd=trained)
    assert tested.returncode == 0 and json.loads(tested.stdout)["classes"] == [0, 2], tested.stderr
    assert run_cli("services", "delete", "cli-keyed", cwd=trained).returncode == 0


def test_aci_limits_cpu_affinity_and_memory_watchdog(ws, tmp_path):
    """AciWebservice cpu_cores=1 pins the server to one core; a server over memory_gb is killed and, dying
    before it was ever ready, fails the service with the cause."""
    from trainyard import AciWebservice, Environment

    small = write_score(tmp_path / "small", "def init():\n    pass\ndef run(raw):\n    return 'ok'\n")
    service = Model.deploy(ws, "pinned", [], InferenceConfig("score.py", small, Environment.current()),
                           AciWebservice.deploy_configuration(cpu_cores=1, memory_gb=1))
    assert service.wait_for_deployment() == "Healthy" and service.run({}) == "ok"
    status = Path(f"/proc/{service.refresh()['server_pid']}/status").read_text()
    allowed = next(line.split()[1] for line in status.splitlines() if line.startswith("Cpus_allowed_list"))
    assert allowed.isdigit(), allowed  # one core, not a range or list
    hungry = write_score(tmp_path / "hungry", "import time\nblob = None\ndef init():\n    global blob\n"
                         "    blob = bytearray(300 << 20)\n    time.sleep(5)\ndef run(raw):\n    return 1\n")
    service = Model.deploy(ws, "hungry", [], InferenceConfig("score.py", hungry, Environment.current()),
                           AciWebservice.deploy_configuration(memory_gb=0.1))
    with pytest.raises(WebserviceException, match="SIGKILL"):
        service.wait_for_deployment(timeout_sec=120)
