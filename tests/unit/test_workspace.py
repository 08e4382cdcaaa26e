"""Workspace config discovery and the embedded default."""

from __future__ import annotations

import json

import pytest

from tests.conftest import run_cli
from trainyard import ComputeTarget, ComputeTargetException, Workspace
from trainyard.errors import WorkspaceError


def test_from_config_walks_up(tmp_path, monkeypatch):
    """from_config() finds .trainyard/config.json in a parent directory."""
    Workspace.init(tmp_path, name="team")
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    ws = Workspace.from_config()
    assert ws.name == "team" and ws.root == (tmp_path / ".trainyard").resolve()


def test_missing_config_says_where_it_looked(tmp_path):
    """No config: the error lists the places looked at and how to create one."""
    with pytest.raises(WorkspaceError) as err:
        Workspace.from_config()
    assert str(tmp_path / ".trainyard" / "config.json") in str(err.value)
    assert "trainyard workspace init" in str(err.value)


def test_embedded_default(tmp_path):
    """With no config, load() gives the store in ./.trainyard and a `local` compute."""
    ws = Workspace.load()
    assert ws.root == (tmp_path / ".trainyard").resolve()
    assert list(ws.compute_targets) == ["local"]
    with pytest.raises(ComputeTargetException, match="'gpu' not found"):
        ComputeTarget(ws, "gpu")


def test_unknown_config_key_rejected(tmp_path):
    """A config with an unknown key is an error naming it."""
    (tmp_path / ".trainyard").mkdir()
    (tmp_path / ".trainyard" / "config.json").write_text(json.dumps({"name": "x", "colour": 1}))
    with pytest.raises(WorkspaceError, match="unknown key 'colour'"):
        Workspace.from_config()


def test_cli_init_and_show(tmp_path):
    """`workspace init` writes the config; `workspace show --json` describes it."""
    assert run_cli("workspace", "init", "--name", "lab").returncode == 0
    shown = json.loads(run_cli("workspace", "show", "--json").stdout)
    assert shown["name"] == "lab" and shown["computes"] == {"local": {"type": "local", "nodes": 0}}
    assert run_cli("workspace", "init").returncode == 1  # exists, no --force


def test_public_names_all_resolve():
    """Every name in trainyard.__all__ imports (they load lazily) and nothing else is exported."""
    import trainyard

    assert sorted(trainyard.__all__) == sorted(trainyard._SOURCES)
    assert all(getattr(trainyard, name).__name__ == name for name in trainyard.__all__)



def test_store_found_from_a_subdirectory(tmp_path, monkeypatch):
    """Without a config, the nearest .trainyard/ store above the current directory is used (like git)."""
    (tmp_path / ".trainyard" / "experiments").mkdir(parents=True)
    deep = tmp_path / "iris-svm" / "src"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    assert Workspace.load().root == (tmp_path / ".trainyard").resolve()


def test_node_root_in_home_is_not_a_workspace(tmp_path, monkeypatch):
    """~/.trainyard holding only the local node's envs/runs/objects is not taken for a workspace store."""
    for sub in ("envs", "runs", "objects"):
        (tmp_path / "home" / ".trainyard" / sub).mkdir(parents=True)
    project = tmp_path / "home" / "project"
    project.mkdir()
    monkeypatch.chdir(project)
    assert Workspace.load().root == (project / ".trainyard").resolve()


def test_missing_workspace_path_is_an_error(tmp_path):
    """`-w /typo` is an error saying the path does not exist, not an empty table with exit 0."""
    out = run_cli("-w", str(tmp_path / "typo"), "runs", "list")
    assert out.returncode == 1 and "does not exist" in out.stderr and not out.stdout
