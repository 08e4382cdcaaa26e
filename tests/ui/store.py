"""Filling a run store directly through RunStore (for views of data no submit produces yet: children)."""

from __future__ import annotations

import json
from pathlib import Path

from trainers._atomic import append_line
from trainers.status import COMPLETED
from trainyard.runstore import RunStore, new_record


def add_run(root: Path, run_id: str, status: str = COMPLETED, metrics: dict | None = None,
            **fields) -> str:
    """A run record plus metrics.jsonl: ``metrics`` maps a name to a value or a list (a series)."""
    store = RunStore(root)
    record = new_record(run_id, run_id.rsplit("_", 2)[0], compute="local", **fields)
    record.update(status=status, started=record["created"], ended=record["created"] + 5)
    store.create(record)
    for name, value in (metrics or {}).items():
        for step, v in enumerate(value if isinstance(value, list) else [value]):
            append_line(store.run_dir(run_id) / "metrics.jsonl",
                        json.dumps({"kind": "scalar", "name": name, "value": v, "step": step, "time": 1e9 + step}))
    return run_id
