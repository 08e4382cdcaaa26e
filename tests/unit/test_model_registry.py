"""The model registry: atomic versions, verified downloads, listing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import write
from trainyard import Model, ResourceConfiguration, Workspace
from trainyard.errors import RegistryError

REGISTER = """
import sys
from trainyard import Model, Workspace
ws = Workspace.embedded(sys.argv[1])
m = Model.register(ws, sys.argv[2], "shared-name")
print(m.version)
"""


def test_concurrent_registrations_get_distinct_versions(tmp_path):
    """20 processes registering one name at once get versions 1..20, each with its own file."""
    procs = []
    for i in range(20):
        f = write(tmp_path / f"in{i}" / "model.txt", f"model {i}")
        procs.append(subprocess.Popen([sys.executable, "-c", REGISTER, str(tmp_path), str(f)],
                                      stdout=subprocess.PIPE, text=True))
    versions = sorted(int(p.communicate()[0]) for p in procs)
    assert versions == list(range(1, 21))
    ws = Workspace.embedded(tmp_path)
    contents = {Path(Model(ws, "shared-name", v).path).read_text() for v in versions}
    assert contents == {f"model {i}" for i in range(20)}


def test_register_download_verifies(tmp_path):
    """download() copies the files; a damaged registry copy is refused."""
    ws = Workspace.embedded(tmp_path)
    write(tmp_path / "m" / "weights.bin", "w")
    write(tmp_path / "m" / "sub" / "cfg.json", "{}")
    m = Model.register(ws, tmp_path / "m", "net", tags={"team": "a"}, model_framework="pytorch",
                       resource_configuration=ResourceConfiguration(cpu=2, memory_in_gb=4))
    assert (m.id, m.model_framework) == ("net:1", "PyTorch")
    out = Path(m.download(tmp_path / "dl"))
    assert (out / "sub" / "cfg.json").read_text() == "{}"
    with pytest.raises(RegistryError, match="exist_ok"):
        m.download(tmp_path / "dl")
    target = m.path / "weights.bin"
    target.chmod(0o644)
    target.write_text("tampered")
    with pytest.raises(RegistryError, match="sha256"):
        m.download(tmp_path / "dl2")


def test_list_filters_and_latest(tmp_path):
    """Model.list filters by name and tags; latest=True keeps one version per name."""
    ws = Workspace.embedded(tmp_path)
    f = write(tmp_path / "f.txt", "x")
    Model.register(ws, f, "a", tags={"stage": "dev"})
    Model.register(ws, f, "a", tags={"stage": "prod"})
    Model.register(ws, f, "b")
    assert [m.id for m in Model.list(ws)] == ["b:1", "a:2", "a:1"]  # newest first
    assert [m.id for m in Model.list(ws, latest=True)] == ["b:1", "a:2"]
    assert [m.id for m in Model.list(ws, tags=[["stage", "prod"]])] == ["a:2"]
    assert Model(ws, "a").version == 2 and Model(ws, id="a:1").tags == {"stage": "dev"}


def test_bad_names_and_unknown_models(tmp_path):
    """Invalid model names and unknown models raise RegistryError with a hint."""
    ws = Workspace.embedded(tmp_path)
    with pytest.raises(RegistryError, match="invalid"):
        Model.register(ws, write(tmp_path / "f", "x"), "-bad name")
    with pytest.raises(RegistryError, match="models list"):
        Model(ws, "missing")
