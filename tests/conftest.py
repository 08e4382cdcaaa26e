"""Shared fixtures: every test runs in a temp directory with HOME pointed at a temp dir."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NoReturn

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
TRAINYARD = str(Path(sys.executable).parent / "trainyard")
SLOW_DIRS = ("e2e", "integration")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests under tests/e2e and tests/integration (real processes, sshd, uv builds) are marked slow."""
    for item in items:
        if Path(str(item.fspath)).relative_to(REPO / "tests").parts[0] in SLOW_DIRS:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """HOME in a temp dir (the real ~/.ssh is never read); uv keeps its shared download cache; connection
    holders get a socket directory of their own (short: unix socket paths are limited), ended afterwards."""
    from trainyard.transport.holder import stop_holders

    uv_cache = os.environ.get("UV_CACHE_DIR") or str(Path.home() / ".cache" / "uv")
    home = tmp_path / "home"
    home.mkdir()
    holders = tempfile.mkdtemp(prefix="ty")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("UV_CACHE_DIR", uv_cache)
    monkeypatch.setenv("TRAINYARD_HOLDER_DIR", holders)
    monkeypatch.delenv("TRAINYARD_WORKSPACE", raising=False)
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    stop_holders()
    shutil.rmtree(holders, ignore_errors=True)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def local_workspace(base: Path, name: str) -> Path:
    """A workspace config at ``base`` whose ``local`` compute keeps its node root inside it (``base/node``)."""
    write(base / ".trainyard" / "config.json", json.dumps(
        {"name": name, "root": ".", "computes": {"local": {"type": "local", "root": str(base / "node")}}}))
    return base


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 600, **kw) -> subprocess.CompletedProcess:
    """Run the installed `trainyard` console script as a user would."""
    return subprocess.run([TRAINYARD, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, **kw)


def run_on_terminal(*args: str, cwd: Path, prompt: bytes | None = None, reply: str = "") -> tuple[int, str]:
    """Run the `trainyard` console script on a pseudo-terminal (stdin and stderr are a tty); when it
    prints ``prompt``, type ``reply``. Returns (exit code, everything it wrote)."""
    import pty

    pid, fd = pty.fork()
    if pid == 0:  # the child: become the CLI on the pty, never return into pytest
        try:
            os.chdir(cwd)
            os.execv(TRAINYARD, [TRAINYARD, *args])
        finally:
            os._exit(127)
    out, answered = b"", prompt is None
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the child closed the terminal
            chunk = b""
        if not chunk:
            break
        out += chunk
        if not answered and prompt in out:
            os.write(fd, reply.encode() + b"\n")
            answered = True
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), out.decode(errors="replace")


def wait_until(predicate, timeout: float = 60, what: str = "condition"):
    """Poll ``predicate`` every 0.1 s until it returns something truthy (returned), else fail naming ``what``."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def missing(message: str) -> NoReturn:
    """A tool or right the test needs is not here: in CI (``CI=true``) the test fails, elsewhere it skips."""
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def mount_tmpfs(path: Path, size: str) -> Path:
    """Mount a tmpfs of ``size`` at ``path`` (needs root with mount rights, as in CI, where a refusal fails
    the test; elsewhere it skips it). The caller unmounts it."""
    path.mkdir(parents=True, exist_ok=True)
    out = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
    if out.returncode != 0:
        missing(f"cannot mount a tmpfs at {path}: {out.stderr.decode().strip()}")
    return path
