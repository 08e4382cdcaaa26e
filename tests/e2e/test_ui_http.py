"""`trainyard ui` over real HTTP: access control, CSRF, the documented JSON API, the Web View line."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from tests.conftest import TRAINYARD
from tests.ui.browser import Dashboard, free_port, make_ui_project, submit
from tests.ui.iris import KEYED, OPEN, ROWS, delete_all, deploy_iris
from tests.ui.store import add_run
from trainyard import Webservice


def call(url: str, method: str = "GET", headers: dict | None = None, body: bytes | None = None):
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read().decode(), resp.headers
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(), exc.headers


@pytest.fixture
def env(tmp_path):
    return {**os.environ, "HOME": str(tmp_path / "home")}


def test_loopback_refuses_foreign_host_names(tmp_path, env):
    """Bound to 127.0.0.1 no token is needed, but a request naming another host (DNS rebinding) is refused."""
    add_run(tmp_path / ".trainyard", "a_1700000000_00000001", metrics={"acc": 0.5})
    ui = Dashboard(tmp_path, env)
    try:
        assert call(f"{ui.url}/api/runs")[0] == 200
        status, text, _ = call(f"{ui.url}/api/runs", headers={"Host": "attacker.example:80"})
        assert status == 403 and "loopback" in text
    finally:
        ui.stop()


def test_other_hosts_need_the_printed_token(tmp_path, env):
    """Bound to another address the dashboard prints a URL with a token; without it every request is
    refused; with it a cookie is set and the API answers."""
    add_run(tmp_path / ".trainyard", "a_1700000000_00000001")
    ui = Dashboard(tmp_path, env, "--host", "0.0.0.0")
    try:
        printed = [line for line in ui.output().splitlines() if "dashboard:" in line][0]
        token = printed.split("?token=")[1].strip()
        status, text, _ = call(f"{ui.url}/api/runs")
        assert status == 403 and "token" in text
        assert call(f"{ui.url}/api/runs", headers={"Authorization": "token wrong"})[0] == 403
        status, text, _ = call(f"{ui.url}/api/runs", headers={"Authorization": f"token {token}"})
        assert status == 200 and json.loads(text)["total"] == 1
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
        with opener.open(f"{ui.url}/?token={token}", timeout=30) as resp:  # redirected, cookie kept
            assert resp.status == 200 and "token=" not in resp.url
        with opener.open(f"{ui.url}/api/runs", timeout=30) as resp:
            assert json.loads(resp.read())["total"] == 1
    finally:
        ui.stop()


def test_posts_need_the_csrf_token_and_tag_through_the_library(tmp_path, env):
    """A POST without X-CSRF-Token is refused; with it, the tag lands in the run record."""
    rid = add_run(tmp_path / ".trainyard", "a_1700000000_00000001")
    ui = Dashboard(tmp_path, env)
    try:
        body = json.dumps({"key": "team", "value": "vision"}).encode()
        status, text, _ = call(f"{ui.url}/api/runs/{rid}/tags", "POST", {"Content-Type": "application/json"}, body)
        assert status == 403 and "X-CSRF-Token" in text
        csrf = json.loads(call(f"{ui.url}/api/csrf")[1])["csrf"]
        status, text, _ = call(f"{ui.url}/api/runs/{rid}/tags", "POST",
                               {"Content-Type": "application/json", "X-CSRF-Token": csrf}, body)
        assert status == 200 and json.loads(text)["tags"]["team"] == "vision"
        record = json.loads((tmp_path / ".trainyard" / "experiments" / "a" / "runs" / rid / "run.json").read_text())
        assert record["tags"] == {"team": "vision"}
        assert json.loads(call(f"{ui.url}/api/runs?q=tag:team=vision")[1])["total"] == 1
    finally:
        ui.stop()


def test_api_errors_are_json_with_what_to_do(tmp_path, env):
    """Unknown runs are 404 and bad filters 400, each with a one-line message."""
    add_run(tmp_path / ".trainyard", "a_1700000000_00000001")
    ui = Dashboard(tmp_path, env)
    try:
        status, text, _ = call(f"{ui.url}/api/runs/a_1700000000_deadbeef")
        assert status == 404 and "trainyard runs list" in json.loads(text)["error"]
        status, text, _ = call(f"{ui.url}/api/runs?q=colour:red")
        assert status == 400 and "unknown prefix" in json.loads(text)["error"]
        status, text, _ = call(f"{ui.url}/api/runs?sort=colour")
        assert status == 400 and "cannot sort" in json.loads(text)["error"]
    finally:
        ui.stop()


def test_busy_port_is_a_clear_error(tmp_path, env):
    """A port in use fails at once with a message naming --port."""
    port = free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))
        s.listen()
        out = subprocess.run([TRAINYARD, "ui", "--port", str(port)], cwd=tmp_path, env=env, capture_output=True,
                             text=True, timeout=60)
    assert out.returncode == 1 and "--port" in out.stderr and "Traceback" not in out.stderr


def test_web_view_points_at_the_dashboard_while_it_runs(tmp_path, env):
    """submit's "Web View" line (wait_for_completion) gives the run's dashboard page while `trainyard ui`
    serves the workspace, and the run directory once it has stopped."""
    make_ui_project(tmp_path)
    ui = Dashboard(tmp_path, env)
    try:
        out = submit(tmp_path, env, "--json")
        rid = json.loads(out.stdout)["runId"]
        assert f"Web View: {ui.url}/runs/{rid}\n" in out.stderr
        assert json.loads(out.stdout)["portalUrl"] == f"{ui.url}/runs/{rid}"
    finally:
        ui.stop()
    assert not (tmp_path / ".trainyard" / "index" / "ui.json").exists()  # Ctrl-C removed the record
    out = submit(tmp_path, env)
    assert "Web View: file://" in out.stderr


def test_events_stream_a_live_run_and_ctrl_c_still_stops(tmp_path, env):
    """The events endpoint streams a running run's status and log; Ctrl-C stops the dashboard within
    seconds even with the stream open, and the run goes on (then ends normally)."""
    make_ui_project(tmp_path)
    out = submit(tmp_path, env, "--detach", "--json", "--set", "inputs.steps=60", "--set", "inputs.sleep=0.1")
    rid = json.loads(out.stdout)["runId"]
    ui = Dashboard(tmp_path, env)
    stream = urllib.request.urlopen(f"{ui.url}/api/runs/{rid}/events", timeout=30)
    events = []
    while len(events) < 3:
        line = stream.readline().decode()
        if line.startswith("data: "):
            events.append(json.loads(line[6:]))
    assert any("step " in e["log"] for e in events) and events[-1]["status"] in ("Running", "Completed")
    started = time.monotonic()
    ui.stop()
    assert ui.proc.returncode is not None and time.monotonic() - started < 15
    stream.close()
    done = subprocess.run([TRAINYARD, "runs", "attach", rid], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_services_go_through_the_service_library(tmp_path, env):
    """Real iris services on `local`: the list and detail show Healthy and restarts from the node, the detail
    the node's server log; "try it" answers [0, 2] for two rows, on the keyed service too (the key is added by
    the dashboard and appears in no answer); an unknown service is a 404 naming the deployed ones."""
    ws = deploy_iris(tmp_path, env)
    ui = Dashboard(tmp_path, env)
    try:
        listed = {s["name"]: s for s in json.loads(call(f"{ui.url}/api/services")[1])}
        assert sorted(listed) == [KEYED, OPEN]
        assert listed[OPEN]["state"] == "Healthy" and listed[OPEN]["restarts"] == 0
        assert listed[OPEN]["scoring_uri"].startswith("http://127.0.0.1:") and listed[KEYED]["auth_enabled"]
        status, text, _ = call(f"{ui.url}/api/services/{KEYED}")
        shown = json.loads(text)
        assert status == 200 and shown["state"] == "Healthy" and shown["log_tail"].strip()
        csrf = json.loads(call(f"{ui.url}/api/csrf")[1])["csrf"]
        headers = {"Content-Type": "application/json", "X-CSRF-Token": csrf}
        body = json.dumps({"data": ROWS}).encode()
        for name in (OPEN, KEYED):
            status, text, _ = call(f"{ui.url}/api/services/{name}/score", "POST", headers, body)
            assert status == 200 and json.loads(text) == {"response": [0, 2]}, text
        keys = Webservice(ws, KEYED).get_keys()
        assert not any(k in text or k in call(f"{ui.url}/api/services")[1] for k in keys)
        status, text, _ = call(f"{ui.url}/api/services/{KEYED}/score", "POST", headers, b"not json")
        assert status == 502 and "400" in json.loads(text)["error"]
        status, text, _ = call(f"{ui.url}/api/services/nope/score", "POST", headers, b"{}")
        assert status == 404 and KEYED in json.loads(text)["error"]
    finally:
        ui.stop()
        delete_all(ws)
