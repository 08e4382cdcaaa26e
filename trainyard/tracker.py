"""Keeps a stored run in step with its node: status, live logs and metrics, and the final pull.

``sync_step`` is one poll of a run's node (the caller passes its one ``RunStore`` and, when it has it, the
node; nothing is rebuilt per step): it appends new log bytes past what the store already has (so
re-attaching resumes where it stopped), maps the node's state onto the run's status, and when the node
says the run ended it pulls ``outputs/`` and ``logs/`` (Finalizing), checks every path from the node,
verifies each file's sha256, then records the terminal status and registers the model the job asked for
(``registration.register_run_output``, the step ``Run.register_model`` uses too).
"""

from __future__ import annotations

import os
import posixpath
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from trainers.objects import hash_file
from trainers.status import (
    CANCEL_REQUESTED,
    CANCELED,
    COMPLETED,
    FAILED,
    FINALIZING,
    LOST,
    NOT_RESPONDING,
    is_terminal,
    run_status_of,
)

from . import gang
from .children import iter_children, record_inline_children
from .errors import ConnectError, RegistryError, StoreError, TransferError, describe_os_error
from .progress import byte_steps
from .registration import register_run_output
from .reply import check_list_files, check_poll
from .runstore import NEVER_LAUNCHED, RunStore
from .transport import Node, open_node

if TYPE_CHECKING:
    from .workspace import Workspace

NEVER_LAUNCHED_REASON = (f"{NEVER_LAUNCHED}: the process submitting it ended (killed or crashed) before the "
                         "launch reached the node; nothing runs there — submit the job again")
METRICS = "metrics.jsonl"


@dataclass
class SyncResult:
    status: str
    chunks: dict[str, bytes] = field(default_factory=dict)


def store_rel(node_log_rel: str) -> str:
    """Where a node log file lives in the run store (pure)."""
    return METRICS if node_log_rel == METRICS else f"logs/{node_log_rel}"


def current_offsets(run_dir: Path) -> dict[str, int]:
    offsets = {}
    if (run_dir / METRICS).is_file():
        offsets[METRICS] = (run_dir / METRICS).stat().st_size
    logs = run_dir / "logs"
    for p in logs.rglob("*") if logs.is_dir() else []:
        if p.is_file():
            offsets[p.relative_to(logs).as_posix()] = p.stat().st_size
    return offsets


def node_for(workspace: Workspace, record: dict) -> Node:
    """The node a run was placed on."""
    return open_node(workspace, record["compute"], (record.get("node") or {}).get("name"))


def sync_step(workspace: Workspace, store: RunStore, run_id: str, node: Node | None = None,
              wait: float = 0.0, progress=None, revive: bool = False) -> SyncResult:
    """One poll of the run's node; with ``wait``, the node holds the poll until something changes.
    ``progress`` (a progress sink) hears how the final pull goes. With ``revive``, a run given up on as
    "node lost" is asked about again (its node may be back)."""
    record = store.load(run_id)
    if _is_settled(record, revive):
        return SyncResult(record["status"])
    if not record.get("launched"):  # still being submitted, or its submitter died before the launch
        if store.is_submitting(run_id):
            return SyncResult(record["status"])
        record = store.load(run_id)  # the submitter may have launched it and let go just now
        if not record.get("launched"):
            return SyncResult(store.set_status(run_id, FAILED, NEVER_LAUNCHED_REASON)["status"])
    with store.sync_lock(run_id) as mine:
        record = store.load(run_id)
        if not mine or _is_settled(record, revive):  # another client is syncing this run right now
            return SyncResult(record["status"])
        return _sync_locked(workspace, store, record, node or node_for(workspace, record), wait, progress)


def _is_settled(record: dict, revive: bool) -> bool:
    return is_terminal(record["status"]) and not (revive and record.get("node_lost"))


def _sync_locked(workspace: Workspace, store: RunStore, record: dict, node: Node, wait: float,
                 progress=None) -> SyncResult:
    run_id = record["run_id"]
    run_dir = store.run_dir(run_id)
    if record["status"] == FINALIZING or is_terminal(record.get("node_state")):
        return SyncResult(finalize(workspace, store, record, node, progress))
    if record.get("nodes"):  # multi-node: a failure on another node stops every rank
        gang.watch(workspace, record)
    try:
        answer = node.call("poll", {"run_id": run_id, "offsets": current_offsets(run_dir), "wait": wait,
                                    "known": [record["status"], record.get("status_reason")]})
    except ConnectError as exc:
        return SyncResult(mark_unreachable(workspace, store, record, exc))
    if record.get("unreachable_since") or record.get("node_lost"):  # it answers: the node is back
        store.update(run_id, lambda r: r.update(unreachable_since=None, node_lost=False,
                                                **({"status": NOT_RESPONDING, "ended": None} if r.get("node_lost")
                                                   else {})))
    answer, chunks = check_poll(answer)
    for rel, data in chunks.items():
        dest = run_dir / store_rel(rel)
        if not dest.resolve().is_relative_to(run_dir.resolve()):  # a symlink planted in the store's logs/
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        with open(dest, "ab") as fh:
            fh.write(data)
    state = answer.get("state")
    # started/ended come from the node's supervisor: when the job ran, not when this client looked
    extra = {k: answer[k] for k in ("pid", "pid_start", "exit_code", "signal", "slurm", "started", "ended")
             if answer.get(k) is not None}
    if "environment" in answer:  # what the node resolved: key, interpreter, cache hit, build time
        extra["environment"] = {**record.get("environment", {}), **answer["environment"]}
    if (is_terminal(state) and not chunks) or state == LOST:  # ended, and every log byte is here
        record = store.set_status(run_id, FINALIZING, "collecting outputs and logs", node_state=state,
                                  node_reason=answer.get("reason"), **extra)
        return SyncResult(finalize(workspace, store, record, node, progress), chunks)
    if is_terminal(state):  # ended, but logs still to catch up on: keep polling
        return SyncResult(record["status"], chunks)
    if (state, answer.get("reason")) != (record["status"], record.get("status_reason")):
        store.set_status(run_id, state, answer.get("reason"), **extra)
    return SyncResult(state, chunks)


def cancel_run(workspace: Workspace, run_id: str, reason: str) -> str:
    """Cancel a run and its children: the node is told ``reason`` (SIGTERM, then SIGKILL after the grace
    period); a run still being submitted, with no node yet, is marked Canceled here. Returns the status."""
    store = RunStore(workspace.root)
    record = store.load(run_id)
    for child in iter_children(store, record):
        cancel_run(workspace, child["run_id"], f"its parent {run_id} was canceled")
    record = store.load(run_id)
    if not record.get("launched") and not is_terminal(record["status"]):
        sync_step(workspace, store, run_id)  # a run whose submitter died is marked never launched
        record = store.load(run_id)
        if not is_terminal(record["status"]):  # still being submitted: its submitter stops before launch
            return store.set_status(run_id, CANCELED, f"{NEVER_LAUNCHED}: {reason} while it was being "
                                    "submitted")["status"]
    if is_terminal(record["status"]):
        return record["status"]
    node_for(workspace, record).call("cancel", {"run_id": run_id, "reason": reason})
    for other in (record.get("nodes") or [])[1:]:  # a multi-node run: every node's ranks
        open_node(workspace, record["compute"], other["name"]).call("cancel", {"run_id": run_id, "reason": reason})
    return store.set_status(run_id, CANCEL_REQUESTED, reason)["status"]


def mark_unreachable(workspace: Workspace, store: RunStore, record: dict, exc: Exception) -> str:
    """The node did not answer: NotResponding once that has lasted the grace period."""
    now = time.time()
    since = record.get("unreachable_since") or now
    grace = float(workspace.limits.get("not_responding_after_seconds", 30))
    if not record.get("unreachable_since"):
        store.update(record["run_id"], lambda r: r.update(unreachable_since=now))
    node = (record.get("node") or {}).get("name", "the node")
    if is_terminal(record["status"]):  # already given up on (node lost): only an answer revises it
        return record["status"]
    give_up = float(record.get("not_responding_timeout") or workspace.limits.get("not_responding_timeout", 900))
    if now - since >= grace + give_up:
        record = store.set_status(record["run_id"], FAILED,
                                  f"node lost: {node} has not answered for {now - since:.0f} s (limits."
                                  f"not_responding_timeout is {give_up:.0f} s; {exc}). If it comes back with the "
                                  f"run, `trainyard runs attach {record['run_id']}` picks up the result",
                                  node_lost=True)
    elif now - since >= grace and record["status"] != NOT_RESPONDING:
        record = store.set_status(record["run_id"], NOT_RESPONDING,
                                  f"{node} has not answered for {now - since:.0f} s ({exc}); the run may still "
                                  "be going there — Trainyard keeps trying and resumes when it answers")
    return record["status"]


def check_entry(entry: dict, max_bytes: int) -> str | None:
    """Why an entry listed by a node must not be copied into the store, or None (pure)."""
    path = entry.get("path", "")
    if path.startswith("/"):
        return "absolute path"
    if "\\" in path:
        return "name contains a backslash"
    parts = path.split("/")
    if ".." in parts or "" in parts or "." in parts:
        return "path contains '..' or empty parts"
    if parts[0] not in ("outputs", "logs"):
        return "not under outputs/ or logs/"
    kind = entry.get("type")
    if kind == "symlink":
        target = posixpath.normpath(posixpath.join(posixpath.dirname(path), entry.get("target", "")))
        if entry.get("target", "").startswith("/") or target.startswith("..") or \
                target.split("/")[0] not in ("outputs", "logs"):
            return f"symlink to {entry.get('target')} leaves the run directory"
        return "symlink (only regular files are collected)"
    if kind != "file":
        return "not a regular file (device, socket or fifo)"
    if entry.get("size", 0) > max_bytes:
        return f"{entry['size']} bytes, over the {max_bytes}-byte cap per file"
    return None


def pull_outputs(workspace: Workspace, store: RunStore, run_id: str, node: Node,
                 progress=None) -> tuple[list[str], list[dict]]:
    """Copy the run's outputs/ and logs/ into the store; returns (collected, rejected).

    Files the store already has (same size and sha256) are skipped, so an interrupted pull resumes.
    Every file is fetched to ``<name>.part``, hashed on both ends as it moves, then moved into place.
    """
    run_dir = store.run_dir(run_id)
    max_bytes = int(workspace.limits.get("max_output_file_bytes", 20 << 30))
    rejected, accepted = [], {}
    for entry in check_list_files(node.call("list_files", {"run_id": run_id})):
        why = check_entry(entry, max_bytes)
        rel = METRICS if entry.get("path") == f"logs/{METRICS}" else entry.get("path")
        if not why and not (run_dir / rel).resolve().is_relative_to(run_dir.resolve()):
            why = "resolves outside the run directory"
        if why:
            rejected.append({"path": entry.get("path"), "reason": why})
        else:
            accepted[entry["path"]] = (rel, run_dir / rel, entry["size"])
    have = [p for p, (_, dest, size) in accepted.items() if dest.is_file() and dest.stat().st_size == size]
    collected, wanted = [], dict(accepted)
    if have:  # resuming: skip what already arrived intact
        hashes = {e["path"]: e.get("sha256") for e in
                  check_list_files(node.call("list_files", {"run_id": run_id, "hash_paths": have}))}
        for path in have:
            if hashes.get(path) == hash_file(accepted[path][1]):
                collected.append(accepted[path][0])
                del wanted[path]
    for _, dest, _ in wanted.values():
        dest.parent.mkdir(parents=True, exist_ok=True)
    def say(message: str) -> None:  # the status reason says how far the pull is, live
        store.update(run_id, lambda r: r.update(status_reason=message))

    total = sum(size for _, _, size in wanted.values())
    reports = [byte_steps(sink, "pulling outputs and logs", total, 8 << 20) for sink in (say, progress) if sink]
    try:
        digests = node.fetch_files(run_id, [(p, str(dest) + ".part") for p, (_, dest, _) in wanted.items()],
                                   lambda done, size=None: [report(done, size) for report in reports])
    except (OSError, TransferError):  # e.g. a full store: give back the space the partial copies took
        for _, dest, _ in wanted.values():
            Path(str(dest) + ".part").unlink(missing_ok=True)
        raise
    for path, (rel, dest, _) in wanted.items():
        part = Path(str(dest) + ".part")
        if not part.is_file() or not digests.get(path):
            part.unlink(missing_ok=True)
            rejected.append({"path": path, "reason": "missing or sha256 mismatch after transfer"})
            continue
        os.replace(part, dest)
        collected.append(rel)
    return collected, rejected


def finalize(workspace: Workspace, store: RunStore, record: dict, node: Node, progress=None) -> str:
    """Pull outputs and logs, then record the terminal status (and register the model if asked)."""
    run_id = record["run_id"]
    state = record.get("node_state")
    if state == LOST:
        return store.set_status(run_id, run_status_of(state), record.get("node_reason"))["status"]
    try:
        if record.get("nodes"):  # multi-node: the other nodes' ranks end with the run; their files come too
            state, reason = gang.settle(workspace, record,
                                        lambda other: pull_outputs(workspace, store, run_id, other))
            record = store.update(run_id, lambda r: r.update(node_state=state, node_reason=reason))
        collected, rejected = pull_outputs(workspace, store, run_id, node, progress)
    except (OSError, TransferError) as exc:  # a full or read-only store: say so on the run; attach retries
        what = describe_os_error(exc) if isinstance(exc, OSError) else str(exc)
        reason = f"pulling outputs and logs failed: {what}; then `trainyard runs attach {run_id}` retries the pull"
        try:
            store.update(run_id, lambda r: r.update(status_reason=reason))
        except OSError:
            pass
        raise StoreError(reason, getattr(exc, "filename", None)) from None
    final = store.set_status(run_id, state, record.get("node_reason"), rejected_outputs=rejected,
                             collected_files=len(collected))
    record_inline_children(store, final)
    asked = record.get("register_model")
    if state == COMPLETED and asked and not record.get("model_id"):
        try:
            model = register_run_output(
                store, run_id, asked["name"], asked["path"], framework=asked.get("framework"),
                framework_version=asked.get("framework_version"), tags=asked.get("tags"),
                properties=asked.get("properties"), description=asked.get("description"))
            store.update(run_id, lambda r: r.update(model_id=f"{model['name']}:{model['version']}"))
        except RegistryError as exc:
            message = str(exc)
            store.update(run_id, lambda r: r.update(registration_error=message))
    return final["status"]
