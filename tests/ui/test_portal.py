"""run.get_portal_url(): the dashboard page while `trainyard ui` serves the workspace, else the directory."""

from __future__ import annotations

import subprocess
import sys

from tests.ui.store import add_run
from trainyard import Run, Workspace
from trainyard.portal import clear_portal, portal_file, write_portal


def test_portal_url_follows_the_dashboard(tmp_path):
    """With a live dashboard record the URL is the run page (with the token when there is one); once
    the server is gone, or its record was left by a dead process, it is the run's directory again."""
    ws = Workspace.embedded(tmp_path)
    rid = add_run(ws.root, "exp_1700000000_0000abcd")
    run = Run(ws, rid)
    assert run.get_portal_url().startswith("file://")
    write_portal(ws.root, "http://127.0.0.1:8642", "s3cret")
    assert run.get_portal_url() == f"http://127.0.0.1:8642/runs/{rid}?token=s3cret"
    assert oct(portal_file(ws.root).stat().st_mode & 0o777) == "0o600"
    clear_portal(ws.root)
    assert run.get_portal_url().startswith("file://")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    write_portal(ws.root, "http://127.0.0.1:8642", None)
    portal_file(ws.root).write_text(portal_file(ws.root).read_text().replace(
        f'"pid": {__import__("os").getpid()}', f'"pid": {dead.stdout.strip()}'))
    assert run.get_portal_url().startswith("file://")
