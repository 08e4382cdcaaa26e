"""Web services on an SSH pool node (real sshd on 127.0.0.1): the iris model trained on the node, deployed
there from the same environment, reached directly (service_address) or through the client's forward."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, TRAINYARD, run_cli
from tests.e2e.test_services import ROWS, SCORE, port_is_free, post, write_score
from tests.sshd import node_entry
from trainyard import AksWebservice, InferenceConfig, Model, Webservice, Workspace
from trainyard.transport import close_all


@pytest.fixture(scope="module")
def trained_on_pool(ssh_env, tmp_path_factory):
    """A workspace whose pool `pool` has one node (uv on its PATH); sklearn-iris:1 trained on that node."""
    base = tmp_path_factory.mktemp("ssh-services")
    server = ssh_env["servers"][0]
    if server.proc is None or server.proc.poll() is not None:
        server.start()
    node = node_entry("n1", server, ssh_env["key"], base / "node", slots=1,
                      env={"PATH": f"{Path(TRAINYARD).parent}:/usr/local/bin:/usr/bin:/bin"})
    (base / ".trainyard").mkdir()
    config = {"name": "ws", "root": ".", "computes": {"pool": {"type": "ssh", "nodes": [node]}}}
    (base / ".trainyard" / "config.json").write_text(json.dumps(config))
    made = subprocess.run([sys.executable, "-m", "scripts.scaffold", "iris-svm", "-o", str(base / "iris"),
                           "--set", "compute=pool"], cwd=REPO, capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    out = run_cli("submit", str(base / "iris" / "job.yml"), "--json", cwd=base)
    assert out.returncode == 0, out.stderr
    yield {"base": base, "config": config}
    ws = Workspace.from_config(base)
    for service in Webservice.list(ws):
        service.delete()
    close_all()


def workspace(setup: dict, address: str | None) -> Workspace:
    config = json.loads(json.dumps(setup["config"]))
    if address:
        config["computes"]["pool"]["nodes"][0]["service_address"] = address
    (setup["base"] / ".trainyard" / "config.json").write_text(json.dumps(config))
    return Workspace.from_config(setup["base"])


def test_nocode_iris_on_the_node_over_plain_http(trained_on_pool):
    """With service_address set, the iris no-code service listens on the node and answers two rows over
    plain HTTP at that address, from the environment the model was trained in; delete() frees the port."""
    ws = workspace(trained_on_pool, "127.0.0.1")
    service = Model.deploy(ws, "iris-pool", [Model(ws, "sklearn-iris")],
                           deployment_config=AksWebservice.deploy_configuration(auth_enabled=False, compute_target="pool"))
    assert "no Azure Kubernetes Service" in service.note and "'pool'" in service.note
    assert service.wait_for_deployment() == "Healthy"
    assert service.refresh()["environment"]["cache_hit"] is True
    assert service.scoring_uri == f"http://127.0.0.1:{service.port}/score"
    code, body = post(service.port, json.dumps({"data": ROWS}).encode())
    assert code == 200 and json.loads(body) == [0, 2]
    port = service.port
    service.delete()
    assert port_is_free(port) and "iris-pool" not in ws.webservices


def test_score_py_on_the_node_through_the_forward(trained_on_pool, tmp_path):
    """Without service_address the server listens on the node's loopback and scoring_uri is a port this
    process forwards over SSH: key auth refuses a keyless request, reload() picks up an edit, a killed server
    comes back (restart counted), `trainyard services forward` serves other programs, delete() frees the
    node's port and forgets the service."""
    ws = workspace(trained_on_pool, None)
    src = write_score(tmp_path / "src")
    service = Model.deploy(ws, "keyed-pool", [Model(ws, "sklearn-iris")], InferenceConfig("score.py", src),
                           AksWebservice.deploy_configuration(compute_target="pool"))  # AKS: auth on by default
    service.wait_for_deployment()
    node_port = service.port
    uri = service.scoring_uri
    local_port = int(uri.rsplit(":", 1)[1].split("/")[0])
    assert post(local_port, json.dumps({"data": ROWS}).encode())[0] == 401
    assert service.run({"data": ROWS}) == {"version": 1, "classes": [0, 2]}
    write_score(src, SCORE.replace('"version": 1', '"version": 2'))
    service.reload()
    assert service.run({"data": ROWS})["version"] == 2
    pid = service.refresh()["server_pid"]
    os.kill(pid, signal.SIGKILL)  # the node is this machine
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = service.refresh()
        if status["state"] == "Healthy" and status["server_pid"] != pid:
            break
        time.sleep(0.1)
    assert status["restarts"] == 1 and "SIGKILL" in status["crashes"][-1]["cause"]
    assert service.run({"data": ROWS})["classes"] == [0, 2]
    forwarder = subprocess.Popen([TRAINYARD, "services", "forward", "keyed-pool"], cwd=trained_on_pool["base"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:  # `trainyard services forward` keeps a port for other programs (curl) until Ctrl-C
        forwarded = int(forwarder.stdout.readline().strip().rsplit(":", 1)[1].split("/")[0])
        key = service.get_keys()[0]
        code, body = post(forwarded, json.dumps({"data": ROWS}).encode(), headers={"Authorization": f"Bearer {key}"})
        assert code == 200 and json.loads(body)["classes"] == [0, 2]
    finally:
        forwarder.send_signal(signal.SIGINT)
        forwarder.wait(timeout=30)
    listed = json.loads(run_cli("services", "list", "--json", cwd=trained_on_pool["base"]).stdout)
    assert listed[0]["scoring_uri"] is None and "services forward keyed-pool" in \
        run_cli("services", "list", cwd=trained_on_pool["base"]).stdout
    service.delete()
    assert port_is_free(node_port) and "keyed-pool" not in ws.webservices
