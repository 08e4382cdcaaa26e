"""Environments on the local compute: real uv virtualenvs, built once, reused, failures reported."""

from __future__ import annotations

import json
import subprocess

from tests.conftest import TRAINYARD, run_cli, write
from tests.e2e.jobs import make_project
from trainyard import Run, Workspace

ENV_JOB = """
environment:
  requirements: requirements.txt
"""


def build_log(ws: Workspace, run_id: str) -> str:
    return (Run(ws, run_id).run_dir / "logs" / "environment_build.log").read_text()


def test_env_built_once_then_cache_hit(tmp_path):
    """The first run builds a uv venv (cache miss), records packages; the second reuses it (cache hit)."""
    job = make_project(tmp_path, extra=ENV_JOB)
    write(tmp_path / "requirements.txt", "six==1.16.0\n")
    first = json.loads(run_cli("submit", str(job), "--json").stdout)
    second = json.loads(run_cli("submit", str(job), "--json").stdout)
    ws = Workspace.load()
    assert first["status"] == second["status"] == "Completed"
    assert "cache miss" in build_log(ws, first["runId"]) and "cache hit" in build_log(ws, second["runId"])
    packages = (Run(ws, first["runId"]).run_dir / "logs" / "environment_packages.txt").read_text()
    assert "six==1.16.0" in packages
    env = Run(ws, second["runId"]).record["environment"]
    assert env["hash"] == Run(ws, first["runId"]).record["environment"]["hash"]


def test_concurrent_runs_build_once(tmp_path):
    """Two runs needing the same new environment at once: one builds, the other waits and reuses it."""
    job = make_project(tmp_path, extra=ENV_JOB)
    write(tmp_path / "requirements.txt", "six==1.16.0\nidna\n")
    procs = [subprocess.Popen([TRAINYARD, "submit", str(job), "--json"], stdout=subprocess.PIPE, text=True)
             for _ in range(2)]
    ids = [json.loads(p.communicate(timeout=300)[0])["runId"] for p in procs]
    ws = Workspace.load()
    logs = [build_log(ws, i) for i in ids]
    assert sum("cache miss" in log for log in logs) == 1
    assert sum("built by a concurrent run" in log or "cache hit" in log for log in logs) == 1


def test_failed_build_fails_run_with_tail(tmp_path):
    """A package that does not exist fails the run in Preparing with the tail of the build log."""
    job = make_project(tmp_path, extra=ENV_JOB)
    write(tmp_path / "requirements.txt", "trainyard-no-such-package-xyz==1.0\n")
    out = run_cli("submit", str(job))
    assert out.returncode == 3  # the run failed
    assert "environment build failed" in out.stderr and "trainyard-no-such-package-xyz" in out.stderr
    assert not list((tmp_path / "home" / ".trainyard" / "envs").glob("*/trainyard-env.json"))


def test_unavailable_python_is_clear(tmp_path):
    """A conda file asking for a Python the machine lacks says so and what to do."""
    job = make_project(tmp_path, extra="environment:\n  conda_file: env.yml\n")
    write(tmp_path / "env.yml", "dependencies:\n  - python=3.7\n  - pip:\n    - six\n")
    out = run_cli("submit", str(job))
    assert out.returncode == 3 and "asks for Python 3.7" in out.stderr


def test_current_env_skips_build(tmp_path):
    """--current-env runs in the node's interpreter: no environment is built."""
    job = make_project(tmp_path, extra=ENV_JOB)
    write(tmp_path / "requirements.txt", "trainyard-no-such-package-xyz==1.0\n")
    out = json.loads(run_cli("submit", str(job), "--current-env", "--json").stdout)
    assert out["status"] == "Completed" and out["environment"]["spec"] == {"kind": "current"}
