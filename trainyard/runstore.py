"""The file-based run store: ``<root>/experiments/<exp>/runs/<run_id>/`` (a human can browse it).

``run.json`` is the record (status history with timestamps, node, environment, exit code …);
``metrics.jsonl``, ``logs/`` and ``outputs/`` are copies of what the node produced; ``snapshot.json``
describes the source snapshot. Updates take a lock and write atomically.
"""

from __future__ import annotations

import fcntl
import itertools
import os
import re
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from trainers._atomic import write_json_atomic
from trainers.status import NOT_STARTED, RUNNING, is_terminal

from .errors import RunError
from .record import load_record, skip_unreadable

RUN_FILE_TOPS = ("outputs", "logs")  # what a run's files are (pulled from the node)
SUBMIT_LOCK = ".submit.lock"
NEVER_LAUNCHED = "never launched"
LATEST = "latest"


def new_run_id(experiment: str) -> str:
    return f"{experiment}_{int(time.time())}_{secrets.token_hex(4)}"


RUN_ID_RE = re.compile(r"([A-Za-z0-9][A-Za-z0-9_\-]{0,254})_([0-9]{1,18})_([A-Za-z0-9]{1,64})")


def parse_run_id(run_id: str) -> tuple[str, int] | None:
    """(experiment, unix second) of ``<experiment>_<unix_ts>_<8 hex>``, or None for anything else (pure).
    Only ids of that form are accepted, so a run id never names a path outside its experiment."""
    m = RUN_ID_RE.fullmatch(run_id) if isinstance(run_id, str) else None
    return (m.group(1), int(m.group(2))) if m else None


def experiment_of(run_id: str) -> str:
    parsed = parse_run_id(run_id)
    if parsed is None:
        raise RunError(f"{str(run_id)[:80]!r} is not a run id (expected <experiment>_<unix_ts>_<8 hex>; "
                       "`trainyard runs list` shows them)", str(run_id)[:80])
    return parsed[0]


class RunStore:
    def __init__(self, root: Path):
        self.root = Path(root)

    def run_dir(self, run_id: str) -> Path:
        return self.root / "experiments" / experiment_of(run_id) / "runs" / run_id

    def create(self, record: dict) -> Path:
        d = self.run_dir(record["run_id"])
        d.mkdir(parents=True, exist_ok=False)
        write_json_atomic(d / "run.json", record)
        return d

    def create_submitting(self, record: dict) -> IO:
        """Create a run whose submitter holds ``.submit.lock`` until it closes the returned file (taken
        before run.json exists, so no reader sees the run unheld); the kernel drops the lock when the
        submitting process dies, however it dies."""
        d = self.run_dir(record["run_id"])
        d.mkdir(parents=True, exist_ok=False)
        held = open(d / SUBMIT_LOCK, "w")
        fcntl.flock(held, fcntl.LOCK_EX)
        write_json_atomic(d / "run.json", record)
        return held

    def is_submitting(self, run_id: str) -> bool:
        """Whether a live process still holds the run's submit lock."""
        try:
            with open(self.run_dir(run_id) / SUBMIT_LOCK, "a") as fh:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        return False

    def load(self, run_id: str) -> dict:
        record = load_record(self.run_dir(run_id) / "run.json")
        if record is None:
            raise RunError(f"no run {run_id!r} in the workspace at {self.root}; "
                           "`trainyard runs list` shows the runs it has", run_id)
        return record

    @contextmanager
    def _locked(self, run_id: str):
        d = self.run_dir(run_id)
        with open(d / ".lock", "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            yield

    @contextmanager
    def sync_lock(self, run_id: str):
        """Held while one process syncs a run with its node; yields False if another process holds it
        (that one is appending the logs and pulling the outputs, so this one should not)."""
        with open(self.run_dir(run_id) / ".sync.lock", "w") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                yield False
                return
            yield True

    def update(self, run_id: str, change: Callable[[dict], None]) -> dict:
        with self._locked(run_id):
            record = self.load(run_id)
            change(record)
            write_json_atomic(self.run_dir(run_id) / "run.json", record)
            return record

    def set_status(self, run_id: str, status: str, reason: str | None = None, **fields) -> dict:
        def change(record: dict) -> None:
            if is_terminal(record["status"]):
                return
            if status != record["status"] or reason != record.get("status_reason"):
                record["history"].append({"status": status, "time": time.time(), "reason": reason})
            record.update(status=status, status_reason=reason, **fields)
            if status == RUNNING and not record.get("started"):
                record["started"] = time.time()
            if is_terminal(status) and not record.get("ended"):  # the node's end time when it sent one
                record["ended"] = time.time()

        return self.update(run_id, change)

    def iter_runs(self, experiment: str | None = None) -> Iterator[dict]:
        """Run records, newest first, read as they are needed: a run id carries its creation second, so
        the order comes from directory names and a caller that stops early reads only what it uses."""
        for _, same_second in itertools.groupby(self.run_dirs(experiment), key=_created_second):
            records = [r for r in skip_unreadable(same_second, lambda d: load_record(d / "run.json")) if r]
            yield from sorted(records, key=lambda r: r.get("created", 0), reverse=True)

    def experiment_names(self) -> list[str]:
        """Experiments that have a runs folder in the store, by name."""
        base = self.root / "experiments"
        return sorted(d.name for d in base.iterdir() if (d / "runs").is_dir()) if base.is_dir() else []

    def run_dirs(self, experiment: str | None = None) -> list[Path]:
        """Run directories, newest second first, from directory names alone (no record is read)."""
        base = self.root / "experiments"
        exps = [base / experiment] if experiment else (sorted(base.iterdir()) if base.is_dir() else [])
        dirs = [d for exp in exps if (exp / "runs").is_dir() for d in (exp / "runs").iterdir()]
        return sorted(dirs, key=_created_second, reverse=True)

    def scan_run_dirs(self) -> Iterator[str]:
        """Every run directory's path, unsorted, from directory entries alone (a fast full scan)."""
        try:
            experiments = list(os.scandir(self.root / "experiments"))
        except FileNotFoundError:
            return
        for exp in experiments:
            try:
                runs = list(os.scandir(os.path.join(exp.path, "runs")))
            except (FileNotFoundError, NotADirectoryError):
                continue
            yield from (entry.path for entry in runs)

    def resolve(self, ref: str) -> str:
        """The run id ``ref`` names: an id, ``latest`` (the newest run), or a unique prefix of an id."""
        if ref == LATEST:
            newest = next(self.iter_runs(), None)
            if newest is None:
                raise RunError(f"there are no runs in the workspace at {self.root} yet", ref)
            return newest["run_id"]
        if parse_run_id(ref) and (self.run_dir(ref) / "run.json").is_file():
            return ref
        base = self.root / "experiments"
        matches = sorted(d.name for exp in (base.iterdir() if base.is_dir() else []) if (exp / "runs").is_dir()
                         for d in (exp / "runs").iterdir() if d.name.startswith(ref) and parse_run_id(d.name))
        if len(matches) == 1:
            return matches[0]
        if matches:
            shown = ", ".join(matches[:5]) + (" …" if len(matches) > 5 else "")
            raise RunError(f"{ref!r} matches {len(matches)} runs ({shown}); give more of the id", ref)
        raise RunError(f"no run {ref!r} in the workspace at {self.root}; `trainyard runs list` shows the runs "
                       "it has (an id, a unique prefix of one, or `latest`)", ref)

    def list(self, experiment: str | None = None) -> list[dict]:
        return list(self.iter_runs(experiment))

    def file_names(self, run_id: str) -> list[str]:
        """The run's collected files (``outputs/…``, ``logs/…``), sorted, without partial downloads."""
        run_dir = self.run_dir(run_id)
        names = []
        for top in RUN_FILE_TOPS:
            base = run_dir / top
            names += [p.relative_to(run_dir).as_posix() for p in sorted(base.rglob("*"))
                      if p.is_file() and not p.name.endswith(".part")] if base.is_dir() else []
        return names


def _created_second(run_dir: Path) -> int:
    """The unix second in a run directory's id (0 for a name that is not a run id)."""
    parsed = parse_run_id(run_dir.name)
    return parsed[1] if parsed else 0


def new_record(run_id: str, experiment: str, **fields) -> dict:
    now = time.time()
    return {"run_id": run_id, "experiment": experiment, "status": NOT_STARTED, "status_reason": None,
            "history": [{"status": NOT_STARTED, "time": now, "reason": None}], "created": now,
            "started": None, "ended": None, "tags": {}, "properties": {}, **fields}
