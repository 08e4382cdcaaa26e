"""The engine under the facade, against the in-memory FakeNode: sync, tracking, placement, errors."""

from __future__ import annotations

import hashlib

import pytest

from tests.conftest import write
from trainers.status import (
    COMPLETED,
    FAILED,
    FINALIZING,
    LOST,
    NOT_STARTED,
    QUEUED,
    RUNNING,
    STARTING,
)
from trainyard import Workspace
from trainyard.errors import ComputeTargetException, ConnectError, NodeStepError
from trainyard.registration import model_registry
from trainyard.runstore import RunStore, new_record
from trainyard.snapshot import take_snapshot
from trainyard.submission import render_manifest_delta, sync_blobs
from trainyard.tracker import sync_step
from trainyard.transport import LocalNode, Node, choose_node
from trainyard.transport.fake import FakeNode
from trainyard.transport.sshconfig import NodeConfig


@pytest.fixture
def ws(tmp_path):
    return Workspace.embedded(tmp_path)


def test_every_node_type_is_a_node(tmp_path):
    """LocalNode and FakeNode implement the Node protocol (SSHNode too: tests/integration)."""
    assert isinstance(LocalNode(tmp_path), Node) and isinstance(FakeNode(), Node)
    with FakeNode() as node:
        pass
    assert node.closed


def test_manifest_delta_is_pure_and_minimal():
    """The delta names the changed and new entries to set and the paths to remove, nothing else."""
    a = {"path": "a.py", "size": 1, "mode": 0o644, "oid": "1"}
    b = {"path": "b.py", "size": 1, "mode": 0o644, "oid": "2"}
    b2 = {**b, "oid": "3"}
    c = {"path": "c.py", "size": 1, "mode": 0o644, "oid": "4"}
    assert render_manifest_delta([a, b], [a, b2, c]) == {"set": [b2, c], "remove": []}
    assert render_manifest_delta([a, b], [a]) == {"set": [], "remove": ["b.py"]}


def test_resync_after_one_change_sends_one_blob_and_a_delta(ws, tmp_path):
    """A second snapshot differing in one file sends that blob only, and its manifest as a delta the node
    reassembles to the same oid."""
    for i in range(30):
        write(tmp_path / "src" / f"f{i}.py", f"print({i})\n")
    first = take_snapshot(tmp_path / "src", ws.objects)
    node = FakeNode()
    sync_blobs(node, ws.objects, [first.oid])
    assert len(node.blobs) == 31  # 30 files and the manifest
    write(tmp_path / "src" / "f7.py", "print('changed')\n")
    second = take_snapshot(tmp_path / "src", ws.objects)
    before = set(node.blobs)
    sync_blobs(node, ws.objects, [second.oid], bases=[first.oid])
    changed = hashlib.sha256(b"print('changed')\n").hexdigest()
    assert set(node.blobs) - before == {changed, second.oid}
    put = [p for verb, p in node.calls if verb == "put_manifest"][-1]
    assert put["base"] == first.oid and [e["path"] for e in put["set"]] == ["f7.py"] and "entries" not in put


def launched_run(ws, store: RunStore, **fields) -> str:
    run_id = "exp_1700000000_0000abcd"
    store.create(new_record(run_id, "exp", compute="local", node={"name": "fake"}, launched=True, **fields))
    store.set_status(run_id, STARTING, "syncing")
    return run_id


def scripted(states: list[dict], files: dict[str, bytes] | None = None):
    """A helper that answers poll with ``states`` in turn and lists ``files`` under outputs/."""
    files = files or {}

    def handler(verb: str, payload: dict) -> dict:
        if verb == "poll":
            return {**(states.pop(0) if len(states) > 1 else states[0]), "chunks": {}}
        if verb == "list_files":
            return {"entries": [{"path": p, "size": len(b), "type": "file",
                                 "sha256": hashlib.sha256(b).hexdigest()} for p, b in files.items()]}
        return {"error": f"unexpected {verb}"}

    return handler


def test_node_states_map_onto_run_statuses_with_history(ws):
    """Queued → Running → Completed on the node: the run goes Queued, Running, Finalizing, Completed,
    each transition in its history once, and the outputs are pulled."""
    store = RunStore(ws.root)
    run_id = launched_run(ws, store)
    node = FakeNode(handler=scripted([{"state": QUEUED, "reason": "waiting for a slot"},
                                      {"state": QUEUED, "reason": "waiting for a slot"},
                                      {"state": RUNNING, "reason": None},
                                      {"state": COMPLETED, "reason": None, "exit_code": 0}],
                                     {"outputs/model.txt": b"weights"}))
    node.files[run_id, "outputs/model.txt"] = b"weights"
    statuses = [sync_step(ws, store, run_id, node).status for _ in range(4)]
    assert statuses == [QUEUED, QUEUED, RUNNING, COMPLETED]
    record = store.load(run_id)
    assert [h["status"] for h in record["history"]] == [NOT_STARTED, STARTING, QUEUED, RUNNING, FINALIZING,
                                                        COMPLETED]
    assert record["exit_code"] == 0 and store.file_names(run_id) == ["outputs/model.txt"]
    assert sync_step(ws, store, run_id, node).status == COMPLETED  # terminal: no more polls
    assert [v for v, _ in node.calls].count("poll") == 4


def test_lost_run_fails_without_pulling(ws):
    """A node with no record of the run (Lost) makes it Failed with the node's reason; nothing is pulled."""
    store = RunStore(ws.root)
    run_id = launched_run(ws, store)
    node = FakeNode(handler=scripted([{"state": LOST, "reason": "the node has no run (was it cleaned up?)"}]))
    assert sync_step(ws, store, run_id, node).status == FAILED
    assert "cleaned up" in store.load(run_id)["status_reason"]
    assert [v for v, _ in node.calls] == ["poll"]


def test_finalize_registers_the_requested_model_with_lineage(ws):
    """A completed run whose job asks for register_model gets model NAME:1 with the run in its lineage."""
    store = RunStore(ws.root)
    run_id = launched_run(ws, store, register_model={"name": "m", "path": "outputs/model.txt"})
    node = FakeNode(handler=scripted([{"state": COMPLETED, "reason": None}], {"outputs/model.txt": b"w"}))
    node.files[run_id, "outputs/model.txt"] = b"w"
    assert sync_step(ws, store, run_id, node).status == COMPLETED
    assert store.load(run_id)["model_id"] == "m:1"
    assert model_registry(ws.root).get("m")["lineage"]["run_id"] == run_id


def test_finalize_records_why_registration_failed(ws):
    """register_model naming a file the run did not produce: the run completes, the error lists what exists."""
    store = RunStore(ws.root)
    run_id = launched_run(ws, store, register_model={"name": "m", "path": "outputs/nope.pkl"})
    node = FakeNode(handler=scripted([{"state": COMPLETED, "reason": None}], {"outputs/model.txt": b"w"}))
    node.files[run_id, "outputs/model.txt"] = b"w"
    assert sync_step(ws, store, run_id, node).status == COMPLETED
    assert "outputs/model.txt" in store.load(run_id)["registration_error"]


def test_unreachable_node_becomes_not_responding_after_the_grace_period(ws):
    """A node that does not answer leaves the status alone at first, then NotResponding after the grace."""
    store = RunStore(ws.root)
    run_id = launched_run(ws, store)
    store.set_status(run_id, RUNNING)
    node = FakeNode()
    node.fail_with = ConnectError("127.0.0.1:2222 stopped answering")
    assert sync_step(ws, store, run_id, node).status == RUNNING
    store.update(run_id, lambda r: r.update(unreachable_since=r["unreachable_since"] - 31))
    assert sync_step(ws, store, run_id, node).status == "NotResponding"
    node.fail_with = None
    node.handler = scripted([{"state": RUNNING, "reason": None}])
    assert sync_step(ws, store, run_id, node).status == RUNNING
    assert store.load(run_id)["unreachable_since"] is None


def configs(*specs: tuple[str, int, int]) -> list[NodeConfig]:
    return [NodeConfig(name=name, host="127.0.0.1", gpus=gpus, slots=slots) for name, gpus, slots in specs]


def test_node_selection_least_loaded_with_the_gpus():
    """The node with the lowest (runs + 1) / slots among those with enough GPUs; the others are explained."""
    cfgs = configs(("a", 0, 1), ("b", 2, 4), ("c", 2, 2))
    nodes = [FakeNode("b"), FakeNode("c")]
    chosen, warnings = choose_node("pool", cfgs, nodes, [{"runs": ["r1", "r2"]}, {"runs": []}], gpus=1)
    assert chosen.name == "c"  # (0 + 1) / 2 < (2 + 1) / 4
    assert warnings == ["a: has 0 GPUs, the job asks for 1"]


def test_node_selection_skips_unreachable_and_raises_when_none_fits():
    """An unreachable node is skipped with a warning; all unreachable raises that error; none with the
    GPUs raises ComputeTargetException saying why."""
    cfgs = configs(("a", 0, 1), ("b", 0, 1))
    down = ConnectError("cannot connect to 127.0.0.1:1")
    chosen, warnings = choose_node("pool", cfgs, [FakeNode("a"), FakeNode("b")], [down, {"runs": []}])
    assert chosen.name == "b" and warnings == [f"a skipped: {down}"]
    with pytest.raises(ConnectError):
        choose_node("pool", cfgs, [FakeNode("a"), FakeNode("b")], [down, down])
    with pytest.raises(ComputeTargetException, match="a: has 0 GPUs, the job asks for 2"):
        choose_node("pool", cfgs, [], [], gpus=2)


def test_local_and_fake_nodes_raise_the_same_error_for_a_refused_step(tmp_path):
    """An unknown verb and a bad run id are NodeStepError on the local node and on the fake alike."""
    for node in (LocalNode(tmp_path / "node"), FakeNode()):
        with pytest.raises(NodeStepError, match="nope"):
            node.call("nope", {})
    with pytest.raises(NodeStepError, match="invalid run id") as err:
        LocalNode(tmp_path / "node").call("poll", {"run_id": "../x"})
    assert err.value.kind == "NodeError" and err.value.verb == "poll"
    with pytest.raises(NodeStepError, match="KeyError"):  # a malformed payload is not a KeyError leak
        LocalNode(tmp_path / "node").call("poll", {})


def test_status_history_records_changes_only_and_terminal_is_final(ws):
    """set_status appends to the history only when status or reason change; after a terminal status the
    record no longer changes."""
    store = RunStore(ws.root)
    run_id = launched_run(ws, store)
    store.set_status(run_id, RUNNING)
    store.set_status(run_id, RUNNING)
    store.set_status(run_id, COMPLETED)
    store.set_status(run_id, FAILED, "late")
    record = store.load(run_id)
    assert [h["status"] for h in record["history"]] == [NOT_STARTED, STARTING, RUNNING, COMPLETED]
    assert record["status"] == COMPLETED and record["started"] and record["ended"]


def test_input_mode_download_copies_and_ro_mount_links(ws, tmp_path):
    """An input in mode download is the run's own writable copy; ro_mount is a read-only link into the
    node's cache."""
    from trainyard.snapshot import store_input

    write(tmp_path / "data" / "x.txt", "data")
    write(tmp_path / "src" / "train.py", "pass\n")
    data, _ = store_input(tmp_path / "data", ws.objects)
    snap = take_snapshot(tmp_path / "src", ws.objects)
    node = LocalNode(tmp_path / "node")
    sync_blobs(node, ws.objects, [snap.oid, data])
    run_dir = node.call("materialise", {"run_id": "r_1700000000_00000001", "manifest": snap.oid,
                                        "inputs": {"own": data, "shared": data}, "copy_inputs": ["own"]})["run_dir"]
    own, shared = (tmp_path / run_dir / "inputs" / name / "x.txt" for name in ("own", "shared"))
    assert own.stat().st_nlink == 1 and own.stat().st_mode & 0o777 == 0o644
    assert shared.stat().st_nlink == 2 and shared.stat().st_mode & 0o777 == 0o444


def test_ssh_node_is_a_node():
    """SSHNode implements the Node protocol too (constructing it does not connect)."""
    from trainyard.transport.ssh import SSHNode

    with SSHNode(NodeConfig(name="n", host="127.0.0.1", port=1)) as node:
        assert isinstance(node, Node)
