"""One versioned-registry mechanism and one NAME[:VERSION|@latest] parser for models, datasets, environments."""

from __future__ import annotations

import json
import threading

import pytest

from tests.conftest import run_cli, write
from trainyard import Dataset, Environment, Model, Workspace
from trainyard.errors import DatasetError, EnvironmentError_, RegistryError
from trainyard.registry import VersionedRegistry, parse_ref


@pytest.mark.parametrize(("ref", "parsed"), [("m", ("m", None)), ("m:2", ("m", 2)), ("m@latest", ("m", None)),
                                             ("m:latest", ("m", None)), ("m@3", ("m", 3))])
def test_parse_ref(ref, parsed):
    """NAME, NAME:VERSION and NAME@latest (and the mixed spellings) parse alike."""
    assert parse_ref(ref) == parsed


@pytest.mark.parametrize("ref", ["m:x", "m:0", "", ":2", "m@"])
def test_parse_ref_rejects_what_is_not_a_reference(ref):
    """A version that is not a positive number, or a bad name, is an error saying the accepted forms."""
    with pytest.raises(RegistryError):
        parse_ref(ref)


def test_allocation_under_contention_gives_distinct_versions(tmp_path):
    """16 threads allocating one name at once get versions 1..16, each completed by its own filler."""
    reg = VersionedRegistry(tmp_path, "r.json", "thing", "register one")
    got = []

    def fill(vdir, version):
        (vdir / "r.json").write_text(json.dumps({"version": version}))

    threads = [threading.Thread(target=lambda: got.append(reg.allocate("x", fill))) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got) == list(range(1, 17)) and reg.versions("x") == list(range(1, 17))


def test_concurrent_tag_updates_all_land(tmp_path):
    """Tag updates are read-modify-writes under the registry lock: 16 concurrent add_tags all survive."""
    ws = Workspace.embedded(tmp_path)
    Model.register(ws, write(tmp_path / "m.txt", "w"), "m")
    threads = [threading.Thread(target=lambda i=i: Model(ws, "m").add_tags({f"t{i}": i})) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert Model(ws, "m:1").tags == {f"t{i}": str(i) for i in range(16)}


def test_every_registry_takes_every_reference_form(tmp_path):
    """Models, datasets and environments all accept NAME, NAME:V and NAME@latest; each family raises its
    own error for an unknown version."""
    ws = Workspace.embedded(tmp_path)
    for i in (1, 2):
        Model.register(ws, write(tmp_path / f"m{i}.txt", str(i)), "m")
        Dataset.File.from_files(str(write(tmp_path / f"d{i}" / "x.txt", str(i)))).register(
            ws, "d", create_new_version=True)
        env = Environment("e")
        env.environment_variables = {"I": str(i)}
        env.register(ws)
    assert [Model(ws, r).version for r in ("m", "m:1", "m@latest")] == [2, 1, 2]
    assert [Dataset.get_by_name(ws, r).version for r in ("d", "d:1", "d@latest")] == [2, 1, 2]
    assert [Environment.get(ws, r).version for r in ("e", "e:1", "e@latest")] == ["2", "1", "2"]
    for make, error in ((lambda: Model(ws, "m:9"), RegistryError), (lambda: Dataset.get_by_name(ws, "d:9"), DatasetError),
                        (lambda: Environment.get(ws, "e:9"), EnvironmentError_)):
        with pytest.raises(error, match="no version 9"):
            make()


def test_models_show_takes_at_latest_and_at_version(tmp_path):
    """`models show m@2` works like `datasets show d@2` (it used to fail)."""
    ws = Workspace.embedded(tmp_path)
    for i in (1, 2):
        Model.register(ws, write(tmp_path / f"m{i}.txt", str(i)), "m")
    out = run_cli("models", "show", "m@1", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["version"] == 1
