"""Concurrent dataset registration from separate processes follows the models' lock and rules."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from tests.conftest import write
from trainyard import Dataset, Workspace
from trainyard.errors import DatasetError


def _register(barrier, source: str, results) -> None:
    ws = Workspace.load()
    ds = Dataset.File.from_files(source)
    ds.store(ws)  # blobs first, so the processes meet at the version decision
    barrier.wait()
    try:
        ds.register(ws, "race")
        results.put("ok")
    except DatasetError as exc:
        results.put(str(exc))


def register_concurrently(sources: list[str]) -> list[str]:
    """Register each source from its own process, all released at the same moment; their outcomes."""
    ctx = multiprocessing.get_context("fork")
    barrier, results = ctx.Barrier(len(sources)), ctx.Queue()
    procs = [ctx.Process(target=_register, args=(barrier, src, results)) for src in sources]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    return outcomes


def versions() -> list[int]:
    base = Workspace.load().root / "datasets" / "race"
    return sorted(int(d.name) for d in base.iterdir() if (d / "dataset.json").is_file())


def test_ten_processes_registering_identical_content_make_one_version(tmp_path):
    """Ten processes, identical content → one version, all succeed."""
    write(tmp_path / "data" / "a.txt", "same")
    assert register_concurrently([str(tmp_path / "data")] * 10) == ["ok"] * 10
    assert versions() == [1]


def test_ten_processes_with_different_content_only_one_gets_in(tmp_path):
    """Ten different contents without create_new_version → exactly one version; nine are told to pass it."""
    for i in range(10):
        write(tmp_path / f"data{i}" / "a.txt", f"content {i}")
    outcomes = register_concurrently([str(Path(tmp_path, f"data{i}")) for i in range(10)])
    assert outcomes.count("ok") == 1 and all("create_new_version" in o for o in outcomes if o != "ok"), outcomes
    assert versions() == [1]
