"""Multi-node runs on SSH pools: N nodes reserved all at once, rank 0's node as the master.

Placement takes N distinct nodes that each have a free slot and an empty queue *now*, launches the run on
all of them, and checks that every supervisor took its slot; if one lost a race (another client took the
slot first), all are canceled and placement is tried again, so a run never holds slots on some nodes while
it waits for others. The run's record keeps rank 0's node as ``node`` (its status, logs and outputs are the
run's) and every node in ``nodes``; ``settle`` ends the other nodes' parts with the run, brings their
per-rank logs back, and fails the run when a rank on another node failed.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from trainers.status import CANCELED, COMPLETED, FAILED, PREPARING, RUNNING, TERMINAL

from .errors import ComputeTargetException, TransportError
from .transport import node_configs, open_node, probe_nodes

if TYPE_CHECKING:
    from .workspace import Workspace

RESERVE_WAIT = 10.0  # seconds a launched part has to take its slot before placement is retried
RETRY_EVERY = 2.0


def free_nodes(workspace: Workspace, compute: str, gpus: int) -> tuple[list[Any], list[str]]:
    """Nodes of the pool that could start a run right now (free slot, nobody queued), least loaded first."""
    configs = [c for c in node_configs(workspace, compute) if gpus <= c.gpus]
    free, notes = [], []
    for cfg, node, info in probe_nodes(workspace, compute, configs):
        if isinstance(info, TransportError):
            notes.append(f"{cfg.name} unreachable")
        elif info["busy_slots"] < cfg.slot_count and not info["queued"]:
            free.append((info["busy_slots"] / cfg.slot_count, cfg.name, node))
        else:
            notes.append(f"{cfg.name} busy")
    return [n for _, _, n in sorted(free, key=lambda t: t[:2])], notes


def select_nodes(workspace: Workspace, compute: str, gpus: int, count: int,
                 say: Callable[[str], None]) -> list[Any]:
    """N nodes with a free slot each at the same moment (waits, saying why, until there are)."""
    total = len([c for c in node_configs(workspace, compute) if gpus <= c.gpus])
    if total < count:
        raise ComputeTargetException(f"the job asks for {count} nodes; pool {compute!r} has {total} that fit "
                                     f"(GPUs ≥ {gpus}); lower resources.instance_count or attach more nodes")
    last = None
    while True:
        nodes, notes = free_nodes(workspace, compute, gpus)
        if len(nodes) >= count:
            return nodes[:count]
        message = (f"waiting for {count} free slots at once on pool {compute} "
                   f"({len(nodes)} free now: {'; '.join(notes)})")
        if message != last:
            say(message)
            last = message
        time.sleep(RETRY_EVERY)


def rendezvous(nodes: list[Any]) -> dict:
    """Where ranks meet: rank 0's node as other nodes reach it (its configured host), a port there."""
    return {"master_addr": nodes[0].config.host, "master_port": random.randint(29500, 39999)}


def all_reserved(nodes: list[Any], run_id: str) -> bool:
    """Did every node's supervisor take its slot (left Queued) within RESERVE_WAIT seconds?"""
    deadline = time.monotonic() + RESERVE_WAIT
    pending = list(nodes)
    while pending and time.monotonic() < deadline:
        pending = [n for n in pending if n.call("poll", {"run_id": run_id})["state"] not in
                   (PREPARING, RUNNING, *TERMINAL)]
        if pending:
            time.sleep(0.1)
    return not pending


def cancel_all(nodes: list[Any], run_id: str, wait: float = 0.0) -> None:
    """Cancel the run's part on every node; with ``wait``, until each has ended (or ``wait`` passed)."""
    for node in nodes:
        try:
            node.call("cancel", {"run_id": run_id})
        except TransportError:
            pass
    deadline = time.monotonic() + wait
    for node in nodes:
        while time.monotonic() < deadline and node.call("poll", {"run_id": run_id})["state"] not in TERMINAL:
            time.sleep(0.1)


def watch(workspace: Workspace, record: dict) -> None:
    """While a multi-node run goes on: when the ranks of another node failed, stop every node's part (rank
    0's node then ends the run, and ``settle`` names the failed node)."""
    others = [open_node(workspace, record["compute"], n["name"]) for n in record["nodes"][1:]]
    for node in others:
        try:
            answer = node.call("poll", {"run_id": record["run_id"]})
        except TransportError:
            continue  # NotResponding is judged on rank 0's node
        if answer["state"] in TERMINAL and answer["state"] != COMPLETED:
            cancel_all([open_node(workspace, record["compute"], record["node"]["name"]), *others],
                       record["run_id"])
            return


def settle(workspace: Workspace, record: dict, fetch_logs: Callable[[Any], None]) -> tuple[str, str | None]:
    """At the end of a multi-node run: stop the other nodes' ranks, collect their logs, and the run's
    fate: rank 0's, unless a rank on another node failed."""
    state, reason = record.get("node_state"), record.get("node_reason")
    others = [open_node(workspace, record["compute"], n["name"]) for n in record["nodes"][1:]]
    if state != COMPLETED:
        cancel_all(others, record["run_id"])
    deadline = time.monotonic() + float(workspace.limits.get("cancel_grace_seconds", 10)) + 10
    for node in others:
        answer = node.call("poll", {"run_id": record["run_id"]})
        while answer["state"] not in TERMINAL and time.monotonic() < deadline:
            time.sleep(0.2)
            answer = node.call("poll", {"run_id": record["run_id"]})
        fetch_logs(node)
        if answer["state"] == FAILED and state != FAILED or state == COMPLETED and answer["state"] != COMPLETED:
            state = FAILED if answer["state"] != CANCELED else CANCELED
            reason = f"the ranks on {node.name} ended {answer['state']}: {answer.get('reason')}"
    return state, reason
