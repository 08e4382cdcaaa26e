"""Verifying the workspace store (``trainyard check``) and removing what is provably garbage (``--repair``).

``check_store`` is a query: it reads everything and changes nothing. It reports
- objects whose content does not hash to their name (corrupt), and temp files of killed writers;
- records (run.json, snapshot.json, model.json, dataset.json, environment.json) that do not parse;
- snapshots and dataset manifests that name blobs the store lacks;
- registry version directories without their record (a registration killed mid-way);
- blobs that hold secrets (``trainyard.secret``), shipped before the rules existed.

``repair`` removes only findings marked ``garbage``: corrupt objects (content addressing makes them
worthless), secrets, and temp files and orphan versions older than ``min_age`` (a writer still at work
is younger than that). Unreadable records and missing blobs are reported, never deleted.
`trainyard gc` purges secret blobs through the same record (`trainyard.secret.record_purged`).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from trainers.objects import hash_file

from .errors import StoreError
from .record import load_record
from .secret import find_secret_blobs, purged_oids, record_purged

MIN_AGE = 3600.0  # seconds: temp files and orphan versions younger than this may belong to a live writer
REGISTRIES = {"models": "model.json", "datasets": "dataset.json", "environments": "environment.json"}


@dataclass
class Finding:
    kind: str  # corrupt-object, temp-file, unreadable-record, missing-blob, orphan-version, secret
    path: str
    detail: str
    garbage: bool = False  # --repair removes it

    def to_dict(self) -> dict:
        return asdict(self)


def check_store(root: Path, min_age: float = MIN_AGE, now: float | None = None) -> list[Finding]:
    """Every problem found in the store at ``root`` (pure: nothing is changed)."""
    now = time.time() if now is None else now
    root = Path(root)
    findings = list(_check_objects(root, min_age, now))
    purged = purged_oids(root)
    findings += _check_runs(root, purged)
    findings += _check_registries(root, min_age, now, purged)
    findings += _temp_files(root, min_age, now)
    findings += [Finding("secret", str(_blob(root, oid)), why, garbage=True) for oid, why in find_secret_blobs(root)]
    return findings


def repair(root: Path, findings: list[Finding]) -> list[Finding]:
    """Remove the findings marked garbage; returns those removed."""
    removed = []
    for f in findings:
        if not f.garbage:
            continue
        path = Path(f.path)
        try:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)
        except OSError:
            continue
        if f.kind == "secret":
            record_purged(root, path.parent.name + path.name)
        removed.append(f)
    return removed


def _blob(root: Path, oid: str) -> Path:
    return root / "objects" / oid[:2] / oid[2:]


def _age(path: Path, now: float) -> float:
    try:
        return now - path.lstat().st_mtime
    except OSError:
        return 0.0


def _check_objects(root: Path, min_age: float, now: float) -> Iterator[Finding]:
    for path in sorted((root / "objects").glob("??/*")):
        if path.name.startswith(".tmp-"):
            old = _age(path, now) >= min_age
            yield Finding("temp-file", str(path), "an unfinished blob write" + ("" if old else " (recent: kept)"), old)
        elif path.is_file() and hash_file(path) != path.parent.name + path.name:
            yield Finding("corrupt-object", str(path), "its content does not hash to its name", garbage=True)


def _missing_blobs(root: Path, manifest_oid: str, purged: set[str]) -> list[str]:
    """Blobs a manifest needs that the store lacks (the manifest itself first)."""
    path = _blob(root, manifest_oid)
    if not path.is_file():
        return [manifest_oid]
    try:
        entries = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return [manifest_oid]
    return [e["oid"] for e in entries if isinstance(e, dict) and isinstance(e.get("oid"), str)
            and e["oid"] not in purged and not _blob(root, e["oid"]).is_file()]


def _record(path: Path) -> tuple[dict | None, Finding | None]:
    try:
        return load_record(path), None
    except StoreError as exc:
        return None, Finding("unreadable-record", str(path), str(exc))


def _check_runs(root: Path, purged: set[str]) -> Iterator[Finding]:
    for run_dir in sorted(root.glob("experiments/*/runs/*")):
        if not run_dir.is_dir():
            continue
        record, problem = _record(run_dir / "run.json")
        if problem:
            yield problem
        _, snap_problem = _record(run_dir / "snapshot.json")
        if snap_problem:
            yield snap_problem
        oid = (record or {}).get("snapshot")
        if isinstance(oid, str):
            missing = _missing_blobs(root, oid, purged)
            if missing:
                yield Finding("missing-blob", str(run_dir), f"its snapshot lacks {len(missing)} blob(s), e.g. "
                              f"{missing[0][:12]}; the run's source cannot be re-materialised")


def _check_registries(root: Path, min_age: float, now: float, purged: set[str]) -> Iterator[Finding]:
    for kind, record_name in REGISTRIES.items():
        for vdir in sorted((root / kind).glob("*/*")):
            if not vdir.is_dir() or not vdir.name.isdigit():
                continue
            if not (vdir / record_name).exists():
                old = _age(vdir, now) >= min_age
                yield Finding("orphan-version", str(vdir), f"no {record_name}: a registration that did not finish"
                              + ("" if old else " (recent: kept)"), old)
                continue
            record, problem = _record(vdir / record_name)
            if problem:
                yield problem
            elif kind == "datasets" and isinstance(record.get("manifest"), str):
                missing = _missing_blobs(root, record["manifest"], purged)
                if missing:
                    yield Finding("missing-blob", str(vdir), f"its manifest lacks {len(missing)} blob(s), e.g. "
                                  f"{missing[0][:12]}; register it again from its sources to restore them")


def _temp_files(root: Path, min_age: float, now: float) -> Iterator[Finding]:
    """Temp files of atomic writes (``.NAME.*.tmp``) and partial pulls (``*.part``) outside objects/."""
    for dirpath, dirnames, filenames in os.walk(root):
        if Path(dirpath) == root:
            dirnames[:] = [d for d in dirnames if d != "objects"]
        for name in filenames:
            if (name.startswith(".") and name.endswith(".tmp")) or name.endswith(".part"):
                path = Path(dirpath, name)
                old = _age(path, now) >= min_age
                yield Finding("temp-file", str(path), "left by a writer that did not finish"
                              + ("" if old else " (recent: kept)"), old)
