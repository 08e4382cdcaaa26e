"""Child runs: a child is an ordinary run of the same experiment whose ``run.json`` names its ``parent``.

Children come from ``run.submit_child`` (at your desk), from a sweep controller, or from the job itself
(``run.child_run()`` inside the script: the node keeps their metrics under
``logs/child_runs/<child id>/metrics.jsonl``, and ``record_inline_children`` turns them into runs when the
parent is collected).
"""

from __future__ import annotations

import shutil
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

from trainers.status import CANCELED, COMPLETED, FAILED, RUNNING, is_terminal

from .metrics import load_records
from .runstore import RunStore, new_record, parse_run_id

CLOCK_SLACK = 600  # seconds: a child's id may come from a node whose clock is behind the desk's
INLINE_DIR = "child_runs"


def iter_children(store: RunStore, record: dict, recursive: bool = False) -> Iterator[dict]:
    """Records of the runs whose parent is ``record`` (newest first); with ``recursive``, theirs too.

    A child is created after its parent, so the scan of the experiment stops at runs much older than it."""
    parsed = parse_run_id(record["run_id"])
    oldest = (parsed[1] if parsed else 0) - CLOCK_SLACK
    found = []
    for r in store.iter_runs(record["experiment"]):
        second = parse_run_id(r["run_id"])
        if second is not None and second[1] < oldest:
            break
        if r.get("parent") == record["run_id"]:
            found.append(r)
            yield r
    if recursive:
        for child in found:
            yield from iter_children(store, child, recursive=True)


def match_child(record: dict, tags: dict | None, properties: dict | None, type_: str | None,
                status: str | None) -> bool:
    """Whether a child record passes ``get_children``'s filters (pure): a tag/property given as a string key
    must exist, as a mapping must have those values."""
    def has(found: dict, wanted) -> bool:
        if wanted is None:
            return True
        if isinstance(wanted, str):
            return wanted in found
        return all(str(found.get(k)) == str(v) for k, v in wanted.items())

    return has(record.get("tags") or {}, tags) and has(record.get("properties") or {}, properties) and \
        (type_ is None or record.get("type", "command") == type_) and (status is None or record["status"] == status)


def render_children_summary(statuses: Iterable[str], total: int | None = None) -> str:
    """'2 Running, 5 Completed, 1 Canceled of 12' (pure)."""
    counts = Counter(statuses)
    text = ", ".join(f"{n} {s}" for s, n in sorted(counts.items(), key=lambda kv: (is_terminal(kv[0]), kv[0])))
    return f"{text or 'no children yet'}" + (f" of {total}" if total is not None else "")


def record_inline_children(store: RunStore, parent: dict) -> list[str]:
    """Turn the child runs a job opened with ``run.child_run()`` into runs of the store (idempotent).

    Each keeps its own metrics; its status is the one it closed with, else the parent's outcome."""
    base = store.run_dir(parent["run_id"]) / "logs" / INLINE_DIR
    made = []
    for d in sorted(base.iterdir()) if base.is_dir() else []:
        if parse_run_id(d.name) is None or (store.run_dir(d.name) / "run.json").exists():
            continue
        records = load_records(d / "metrics.jsonl")
        opened = next((r for r in records if r.get("kind") == "child_start"), {})
        closed = [r["value"] for r in records if r.get("kind") == "child_status"]
        status = closed[-1] if closed else (COMPLETED if parent["status"] == COMPLETED else parent["status"])
        if status not in (COMPLETED, FAILED, CANCELED):
            status = FAILED
        record = new_record(d.name, parent["experiment"], parent=parent["run_id"], compute=parent.get("compute"),
                            node=parent.get("node"), display_name=opened.get("name"), type="inline",
                            created=opened.get("time", time.time()))
        record.update(status=status, started=opened.get("time"), ended=records[-1]["time"] if records else None)
        record["history"].append({"status": RUNNING, "time": opened.get("time"), "reason": None})
        record["history"].append({"status": status, "time": record["ended"], "reason": None})
        run_dir = store.create(record)
        shutil.copyfile(d / "metrics.jsonl", Path(run_dir) / "metrics.jsonl")
        made.append(d.name)
    return made
