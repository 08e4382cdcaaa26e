"""Choosing a pool node when several submits run at once in one process (a sweep's children)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import trainyard.transport as transport
from trainyard.transport.fake import FakeNode


class PoolWorkspace:
    """Just what node selection reads: the root and a two-node pool, one slot each."""

    root = Path("/nowhere")

    def compute_config(self, name: str) -> dict:
        return {"type": "ssh", "nodes": [{"name": n, "host": "10.0.0.1", "user": "u", "slots": 1}
                                         for n in ("n1", "n2")]}


@pytest.fixture
def pool(monkeypatch):
    """Both nodes answer that they run nothing (as they do until a launch lands), a little slowly."""
    nodes = {n: FakeNode(n) for n in ("n1", "n2")}
    monkeypatch.setattr(transport, "open_node", lambda ws, compute, name=None: nodes[name])

    def probe(handles):
        time.sleep(0.05)
        return [{"runs": []} for _ in handles]

    monkeypatch.setattr(transport, "probe", probe)
    return PoolWorkspace()


def test_simultaneous_reserving_submits_spread_over_the_pool(pool):
    """Four threads choose at once: two land on each node, not four on the first (which every probe
    shows idle); once released, a choice sees the nodes' own answers again."""
    start = threading.Barrier(4)

    def choose(_):
        start.wait()
        return transport.select_node(pool, "pool", reserve=True)[0]

    with ThreadPoolExecutor(4) as threads:
        chosen = list(threads.map(choose, range(4)))
    assert Counter(n.name for n in chosen) == {"n1": 2, "n2": 2}
    for node in [n for n in chosen if n.name == "n2"]:
        transport.release_node(pool, "pool", node)
    assert transport.select_node(pool, "pool")[0].name == "n2"  # n1 still counts its two reservations
    for node in [n for n in chosen if n.name == "n1"]:
        transport.release_node(pool, "pool", node)
    assert transport._PLACING == Counter()  # every reservation is given back
    assert transport.select_node(pool, "pool")[0].name == "n1"


def test_a_choice_without_reserve_holds_nothing(pool):
    first = transport.select_node(pool, "pool")[0]
    assert (first.name, transport.select_node(pool, "pool")[0].name) == ("n1", "n1")
    assert transport._PLACING == Counter()


def test_threads_opening_one_node_share_one_handle(monkeypatch):
    """Eight threads open the same pool node at once (a parallel `runs list`): one connection is made and
    every thread gets it; another node gets its own."""
    made = []

    def slow_open(config):
        time.sleep(0.05)  # a handshake's worth: the threads overlap inside the opener
        made.append(config.name)
        return FakeNode(config.name)

    monkeypatch.setattr(transport, "_open_ssh", slow_open)
    monkeypatch.setattr(transport, "_OPEN", {})
    ws, start = PoolWorkspace(), threading.Barrier(8)

    def open_first(_):
        start.wait()
        return transport.open_node(ws, "pool", "n1")

    with ThreadPoolExecutor(8) as threads:
        handles = list(threads.map(open_first, range(8)))
    assert made == ["n1"] and all(h is handles[0] for h in handles)
    assert transport.open_node(ws, "pool", "n2") is not handles[0] and made == ["n1", "n2"]
