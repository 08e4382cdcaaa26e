"""Storage hygiene (``trainyard gc``): the workspace's unreferenced objects, and a compute's nodes.

Workspace: a blob in ``objects/`` stays while a run (its snapshot and input manifests), a dataset version
or a manifest they name references it; every other blob stored more than ``grace_seconds`` ago goes (the
grace keeps what a submit in progress has stored but not yet recorded). Nodes: ``trainers.cleanup`` decides
there; the control plane adds which finished runs it has already pulled.

``find_workspace_garbage`` is the one place that decides which workspace objects go: purging secret blobs
that a run does reference belongs there too.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from trainers._atomic import read_json
from trainers.objects import NodeError
from trainers.status import is_terminal

from .errors import TrainyardError
from .runstore import RunStore
from .secret import find_secret_blobs, purged_oids, record_purged
from .snapshot import load_manifest
from .transport import node_configs, open_node

if TYPE_CHECKING:
    from .workspace import Workspace

GRACE_SECONDS = 3600


def referenced_oids(workspace: Workspace) -> set[str]:
    """Every object a run, a dataset version or one of their manifests names."""
    manifests = set()
    for record in RunStore(workspace.root).iter_runs():
        manifests.update(o for o in [record.get("snapshot"), *(record.get("input_manifests") or {}).values()] if o)
    for path in (workspace.root / "datasets").glob("*/*/dataset.json"):
        manifests.add((read_json(path) or {}).get("manifest"))
    manifests.discard(None)
    oids = set(manifests)
    for oid in manifests:
        try:
            oids.update(e["oid"] for e in load_manifest(workspace.objects, oid))
        except FileNotFoundError:
            continue  # already gone: names nothing more to keep
        except (OSError, ValueError, NodeError) as exc:  # its blobs cannot be told apart: keep everything
            raise TrainyardError(f"manifest {oid[:12]} in {workspace.objects.root} cannot be read ({exc}); gc "
                                 "stopped before removing anything — repair or remove that object first") from exc
    return oids


def find_secrets(workspace: Workspace) -> dict[str, str]:
    """oid → why, of the blobs that hold secrets (shipped before the secret rules), purged ones included:
    one scan of the store, for the workspace's gc and every node's."""
    found = dict(find_secret_blobs(workspace.root))
    return {**{oid: "purged from the workspace earlier" for oid in purged_oids(workspace.root)}, **found}


def find_workspace_garbage(workspace: Workspace, grace_seconds: float = GRACE_SECONDS,
                           secrets: dict[str, str] | None = None) -> list[dict]:
    """Objects nothing references, stored before the grace period, and blobs holding secrets (``secrets``,
    else :func:`find_secrets`): a query, it removes nothing."""
    keep = referenced_oids(workspace)
    now = time.time()
    items = []
    base = workspace.objects.root
    for sub in sorted(base.iterdir()) if base.is_dir() else []:
        for f in sorted(sub.iterdir()) if sub.is_dir() else []:
            st = f.lstat()
            if sub.name + f.name in keep or f.name.startswith(".tmp-") or now - st.st_ctime < grace_seconds:
                continue
            items.append({"kind": "blob", "path": str(f), "bytes": st.st_blocks * 512,
                          "reason": "no run, dataset or manifest references it"})
    listed = {i["path"] for i in items}
    for oid, why in (find_secrets(workspace) if secrets is None else secrets).items():  # even if referenced
        f = base / oid[:2] / oid[2:]
        if str(f) not in listed and f.exists():
            items.append({"kind": "secret", "path": str(f), "bytes": f.lstat().st_blocks * 512, "oid": oid,
                          "reason": f"holds a secret ({why})"})
    return items


def collect_workspace(workspace: Workspace, dry_run: bool = False, grace_seconds: float = GRACE_SECONDS,
                      secrets: dict[str, str] | None = None) -> dict:
    items = find_workspace_garbage(workspace, grace_seconds, secrets)
    if not dry_run:
        for item in items:
            Path(item["path"]).unlink(missing_ok=True)
            if item["kind"] == "secret":
                record_purged(workspace.root, item["oid"])
    return {"where": f"workspace {workspace.root}", "items": items, "bytes": sum(i["bytes"] for i in items),
            "removed": not dry_run}


def pulled_runs(workspace: Workspace, compute: str) -> dict[str, list[str]]:
    """Node name → the finished runs of ``compute`` on it whose outputs and logs are in the store (one pass)."""
    out: dict[str, list[str]] = {}
    for r in RunStore(workspace.root).iter_runs():
        if r.get("compute") == compute and is_terminal(r["status"]) and r.get("launched"):
            out.setdefault((r.get("node") or {}).get("name"), []).append(r["run_id"])
    return out


def collect_compute(workspace: Workspace, compute: str, dry_run: bool = False, env_max_idle_days: float = 30,
                    env_budget_bytes: int | None = None, blob_max_idle_days: float = 7,
                    secrets: dict[str, str] | None = None) -> list[dict]:
    """Run gc on every node of ``compute``; one report per node. Blobs in ``secrets`` (else
    :func:`find_secrets`) go from every node's cache."""
    config = workspace.compute_config(compute)
    names = [None] if config["type"] == "local" else [c.name for c in node_configs(workspace, compute)]
    secret_oids = sorted(find_secrets(workspace) if secrets is None else secrets)
    pulled = pulled_runs(workspace, compute)
    reports = []
    for name in names:
        node = open_node(workspace, compute, name)
        answer = node.call("gc", {"dry_run": dry_run, "env_max_idle_days": env_max_idle_days,
                                  "env_budget_bytes": env_budget_bytes, "blob_max_idle_days": blob_max_idle_days,
                                  "pulled": pulled.get(node.name, []), "secrets": secret_oids})
        reports.append({"where": f"{compute}/{node.name}", **answer})
    return reports
