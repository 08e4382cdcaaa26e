"""Environment specs: conda mapping, canonical hashing, registration."""

from __future__ import annotations

import pytest

from tests.conftest import write
from trainyard import CondaDependencies, Environment, Workspace
from trainyard.errors import EnvironmentError_

CONDA = """\
name: x
channels: [conda-forge]
dependencies:
  - python=3.11
  - pytorch=2.3
  - tensorflow-gpu
  - cudatoolkit=11.8
  - pip
  - pip:
      - joblib>=1.4
"""


def test_conda_file_maps_to_pip(tmp_path):
    """Conda names map to pip (pytorch→torch, tensorflow-gpu→tensorflow); CUDA libs are dropped."""
    env = Environment.from_conda_specification("e", write(tmp_path / "env.yml", CONDA))
    spec = env.compute_spec()
    assert spec["python"] == "3.11"
    assert spec["requirements"] == ["joblib>=1.4", "tensorflow", "torch==2.3.*"]


def test_conda_only_package_is_a_clear_error(tmp_path):
    """A package that only conda has names itself and what to do."""
    env = Environment.from_conda_specification("e", write(tmp_path / "env.yml", CONDA + "  - r-base\n"))
    with pytest.raises(EnvironmentError_, match="'r-base' has no pip equivalent"):
        env.compute_spec()


def test_hash_ignores_order_and_comments(tmp_path):
    """The same packages in another order, with comments, hash the same; a change hashes differently."""
    a = Environment.from_pip_requirements("a", write(tmp_path / "a.txt", "numpy\nsix  # util\n"))
    b = Environment.from_pip_requirements("b", write(tmp_path / "b.txt", "# deps\nsix\n\nnumpy\n"))
    c = Environment.from_pip_requirements("c", write(tmp_path / "c.txt", "six\nnumpy==2.0\n"))
    assert a.compute_hash() == b.compute_hash() != c.compute_hash()


def test_conda_dependencies_create_equals_conda_file(tmp_path):
    """CondaDependencies.create(...) and the equivalent conda file give the same environment hash."""
    from_file = Environment.from_conda_specification("f", write(tmp_path / "env.yml", CONDA))
    env = Environment("g")
    env.python.conda_dependencies = CondaDependencies.create(
        pip_packages=["joblib>=1.4"], conda_packages=["pytorch=2.3", "tensorflow-gpu", "cudatoolkit=11.8"],
        python_version="3.11")
    assert env.compute_hash() == from_file.compute_hash()
    again = CondaDependencies.from_yaml_text(env.python.conda_dependencies.serialize_to_string())
    assert again.render_requirements() == env.python.conda_dependencies.render_requirements()


def test_register_versions_by_content(tmp_path):
    """register() adds a version only when the content changed; get() returns latest or a version."""
    ws = Workspace.embedded(tmp_path)
    req = write(tmp_path / "r.txt", "six\n")
    v1 = Environment.from_pip_requirements("env", req).register(ws)
    same = Environment.from_pip_requirements("env", req).register(ws)
    write(req, "six\nnumpy\n")
    v2 = Environment.from_pip_requirements("env", req).register(ws)
    assert (v1.version, same.version, v2.version) == ("1", "1", "2")
    assert Environment.get(ws, "env").version == "2"
    assert Environment.get(ws, "env", 1).compute_spec()["requirements"] == ["six"]
    assert list(Environment.list(ws, curated=False)) == ["env"]
    assert list(Environment.list(ws))[0] == "env"  # then the curated names
    with pytest.raises(EnvironmentError_, match="no environment named .nope."):
        Environment.get(ws, "nope")
