"""A plain (non-editable) install: the wheel carries the templates, so scaffolding works from it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.conftest import REPO, TRAINYARD

UV = str(Path(TRAINYARD).parent / "uv")
SKIP = shutil.ignore_patterns(".venv", ".git", "__pycache__", "build", "*.egg-info", ".pytest_cache", ".ruff_cache",
                              ".trainyard", "dist")


def test_wheel_install_scaffolds(tmp_path):
    """Built into a wheel and installed into a fresh venv, `scaffold --list` and rendering a template work."""
    src = tmp_path / "checkout"
    shutil.copytree(REPO, src, ignore=SKIP)  # build from a copy: a build writes egg-info/ and build/ in place
    subprocess.run([UV, "build", "--wheel", "--out-dir", str(tmp_path / "dist"), str(src)], check=True,
                   capture_output=True, timeout=600)
    wheel = next((tmp_path / "dist").glob("trainyard-*.whl"))
    venv = tmp_path / "venv"
    subprocess.run([UV, "venv", "--python", shutil.which("python3") or "python3", str(venv)], check=True,
                   capture_output=True, timeout=120)
    subprocess.run([UV, "pip", "install", "--python", str(venv / "bin" / "python"), str(wheel)], check=True,
                   capture_output=True, timeout=600)
    shutil.rmtree(src)  # nothing may come from the source tree any more
    listed = subprocess.run([str(venv / "bin" / "trainyard"), "scaffold", "--list"], capture_output=True,
                            text=True, cwd=tmp_path, timeout=120)
    assert listed.returncode == 0, listed.stderr
    assert all(t in listed.stdout for t in ("iris-svm", "sklearn-mnist", "keras-mnist", "pytorch-cifar"))
    out = subprocess.run([str(venv / "bin" / "trainyard"), "scaffold", "iris-svm", "-o", "iris"],
                         capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "iris" / "src" / ".trainignore").is_file() and (tmp_path / "iris" / "job.yml").is_file()
