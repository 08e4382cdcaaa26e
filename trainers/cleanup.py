"""Storage hygiene on a node (the ``gc`` verb; standard library only): what may go, and removing it.

Three kinds of things go, and never one a queued or running run uses:
- environments (``envs/<key>/``) idle for ``env_max_idle_days``, then the least recently used beyond
  ``env_budget_bytes``. An environment is in use while a supervisor holds a shared lock on ``<key>.lock``
  (``envbuild.hold_env``); gc takes it exclusively without waiting, so a busy one is skipped, and one whose
  spec a queued run asks for is kept;
- blobs (``objects/``) no run directory links (a run's files are hard links, so ``st_nlink == 1``) and stored
  more than ``blob_max_idle_days`` ago (ctime: blobs keep a fixed mtime);
- run directories of finished runs the control plane has already pulled (``pulled``: their ids).

``plan`` is a query (what would go, with sizes); ``collect`` removes what a plan lists, re-checking each item.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
from pathlib import Path

from ._atomic import read_json
from .status import TERMINAL

DAY = 86400


def tree_size(path: Path) -> int:
    """Bytes under ``path`` (files counted once per inode)."""
    seen, total = set(), 0
    for dirpath, _, filenames in os.walk(path):
        for name in filenames:
            try:
                st = os.lstat(os.path.join(dirpath, name))
            except FileNotFoundError:
                continue
            if st.st_ino not in seen:
                seen.add(st.st_ino)
                total += st.st_blocks * 512
    return total


def _runs(root: Path) -> list[tuple[Path, dict, dict]]:
    """(run dir, status, job) of every run directory on the node."""
    base = root / "runs"
    return [(d, read_json(d / "status.json") or {}, read_json(d / "job.json") or {})
            for d in (sorted(base.iterdir()) if base.is_dir() else [])]


def _env_busy(envs: Path, key: str) -> bool:
    """Whether a supervisor holds the environment (or a build of it is under way)."""
    lock = envs / f"{key}.lock"
    if not lock.exists():
        return False
    with open(lock, "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
    return False


def _last_used(envs: Path, key: str) -> float:
    lock = envs / f"{key}.lock"
    return (lock if lock.exists() else envs / key).stat().st_mtime


def plan(root: str | os.PathLike, payload: dict) -> dict:
    """What gc would remove on this node, with sizes (removes nothing)."""
    root = Path(root).expanduser()
    now = time.time()
    runs = _runs(root)
    active = [(d, st, job) for d, st, job in runs if st.get("state") not in TERMINAL]
    wanted_specs = {json.dumps(job.get("environment"), sort_keys=True) for _, _, job in active}
    busy_keys = {(st.get("environment") or {}).get("key") for _, st, _ in active}
    items = []
    envs = root / "envs"
    candidates = []
    for d in sorted(envs.iterdir()) if envs.is_dir() else []:
        if not d.is_dir():
            continue
        marker = read_json(d / "trainyard-env.json") or {}
        if d.name in busy_keys or json.dumps(marker.get("spec"), sort_keys=True) in wanted_specs \
                or _env_busy(envs, d.name):
            continue
        candidates.append((_last_used(envs, d.name), d, tree_size(d)))
    candidates.sort()  # least recently used first
    max_idle = float(payload.get("env_max_idle_days", 30)) * DAY
    budget = payload.get("env_budget_bytes")
    total = sum(size for _, _, size in candidates)
    for used, d, size in candidates:
        idle = now - used >= max_idle
        if idle or (budget is not None and total > int(budget)):
            why = f"unused for {(now - used) / DAY:.0f} days" if idle else "over the environment size budget (LRU)"
            items.append({"kind": "environment", "path": str(d), "bytes": size, "reason": why})
            total -= size
    blob_idle = float(payload.get("blob_max_idle_days", 7)) * DAY
    objects = root / "objects"
    for sub in sorted(objects.iterdir()) if objects.is_dir() else []:
        for f in sorted(sub.iterdir()) if sub.is_dir() else []:
            st = f.lstat()
            if f.name.startswith(".tmp-") or st.st_nlink > 1 or now - st.st_ctime < blob_idle:
                continue
            items.append({"kind": "blob", "path": str(f), "bytes": st.st_blocks * 512,
                          "reason": "no run links it"})
    listed = {i["path"] for i in items}
    for oid in payload.get("secrets") or []:  # shipped before the desk's secret rules: purged even if linked
        f = objects / oid[:2] / oid[2:]
        if len(oid) == 64 and str(f) not in listed and f.is_file():
            items.append({"kind": "secret", "path": str(f), "bytes": f.lstat().st_blocks * 512,
                          "reason": "holds a secret (sent before the secret rules)"})
    pulled = set(payload.get("pulled") or [])
    for d, st, _ in runs:
        if d.name in pulled and st.get("state") in TERMINAL:
            items.append({"kind": "run", "path": str(d), "bytes": tree_size(d),
                          "reason": f"{st['state']}, outputs already pulled"})
    return {"items": items, "bytes": sum(i["bytes"] for i in items), "free_disk": shutil.disk_usage(root).free
            if root.exists() else None}


def collect(root: str | os.PathLike, payload: dict) -> dict:
    """Remove what ``plan`` lists (everything is re-checked as it goes); with ``dry_run``, only plan."""
    root = Path(root).expanduser()
    report = plan(root, payload)
    if payload.get("dry_run"):
        return {**report, "removed": False}
    envs = root / "envs"
    done = []
    for item in report["items"]:
        path = Path(item["path"])
        if item["kind"] == "environment":
            with open(envs / f"{path.name}.lock", "a") as fh:
                try:
                    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    continue  # a run started using it since the plan
                shutil.rmtree(path, ignore_errors=True)
        elif item["kind"] == "secret":
            path.unlink(missing_ok=True)
        elif item["kind"] == "blob":
            try:
                if path.lstat().st_nlink > 1:  # linked into a run since the plan
                    continue
                path.unlink()
            except FileNotFoundError:
                continue
        else:
            shutil.rmtree(path, ignore_errors=True)
        done.append(item)
    return {"items": done, "bytes": sum(i["bytes"] for i in done), "removed": True,
            "free_disk": shutil.disk_usage(root).free}
