"""Submitting a job: snapshot → sync the blobs the node lacks → materialise → launch detached.

Everything after ``launch`` (status, logs, outputs) is the tracker's job, so a client that goes away
after submitting loses nothing: ``trainyard runs attach`` picks the run up again. ``submit`` returns the
run id; the facade (``Experiment.submit``, the CLI) wraps it in a ``Run``.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from trainers._atomic import write_json_atomic
from trainers.objects import ObjectStore
from trainers.status import CANCELED, FAILED, STARTING, is_terminal

from . import gang
from .environment import Environment
from .errors import DatasetError, EnvironmentError_, JobSpecError, RunError
from .inputs import resolve_input
from .jobspec import DOWNLOAD, JobSpec
from .progress import byte_steps
from .registry import parse_ref
from .runstore import NEVER_LAUNCHED, RunStore, new_record, new_run_id
from .snapshot import Snapshot, find_stray_ignore_file, load_manifest, take_snapshot
from .transport import Node, node_configs, release_node, select_node

if TYPE_CHECKING:
    from .workspace import Workspace

Progress = Callable[[str], None]
RECENT_RUNS = 100  # how far back base_manifests looks


def resolve_environment(workspace: Workspace, spec: JobSpec, use_current_env: bool) -> Environment:
    if use_current_env:
        return Environment.current()
    if spec.environment_ref:
        return Environment.get(workspace, *parse_ref(spec.environment_ref, "environment", EnvironmentError_))
    return spec.environment or Environment.current()


def sync_blobs(node: Node, store: ObjectStore, manifest_oids: list[str], progress: Progress | None = None,
               bases: list[str] = ()) -> int:
    """Send the node the blobs it lacks, then the manifests (as a delta on a ``bases`` manifest the node
    already has, when that is smaller). Returns the bytes sent."""
    manifests = {m: load_manifest(store, m) for m in manifest_oids}
    blobs = {e["oid"]: e["size"] for entries in manifests.values() for e in entries}
    missing = set(node.call("have", {"oids": [*manifest_oids, *blobs, *bases]})["missing"])
    todo = [(oid, str(store.path(oid))) for oid in blobs if oid in missing]
    sent = node.put_blobs(todo, byte_steps(progress, f"syncing to {node.name}", min_total=1 << 20))
    base = next((b for b in bases if b not in missing), None)
    for oid in (m for m in manifest_oids if m in missing):
        payload = {"oid": oid, "entries": manifests[oid]}
        if base is not None:
            delta = render_manifest_delta(load_manifest(store, base), manifests[oid])
            if len(json.dumps(delta)) < len(json.dumps(payload)):
                payload = {"oid": oid, "base": base, **delta}
        node.call("put_manifest", payload)
        sent += len(json.dumps(payload))
    return sent


def render_manifest_delta(base: list[dict], new: list[dict]) -> dict:
    """Entries to set and paths to remove to turn ``base`` into ``new`` (pure)."""
    old = {e["path"]: e for e in base}
    current = {e["path"]: e for e in new}
    return {"set": [e for p, e in current.items() if old.get(p) != e],
            "remove": [p for p in old if p not in current]}


def base_manifests(store: RunStore, compute: str, node_name: str, limit: int = 5) -> list[str]:
    """Snapshots of recent runs on the same node: likely already there, so good delta bases (only the
    newest runs are looked at, so a submit does not slow down as the store grows)."""
    out = []
    for record in itertools.islice(store.iter_runs(), RECENT_RUNS):
        if record.get("compute") == compute and (record.get("node") or {}).get("name") == node_name \
                and record.get("snapshot") and record["snapshot"] not in out:
            out.append(record["snapshot"])
        if len(out) >= limit:
            break
    return out


def submit(workspace: Workspace, spec: JobSpec, tags: dict | None = None, progress: Progress | None = None,
           use_current_env: bool = False, parent: str | None = None, run_id: str | None = None,
           fields: dict | None = None, snapshot: Snapshot | None = None) -> str:
    """Start ``spec`` on its compute; returns the run id (the run is Starting or later).

    A child run names its ``parent``; a sweep controller passes the ``run_id`` it recorded beforehand (so a
    restarted controller knows the child, created or not), extra record ``fields`` (hyperparameters) and the
    ``snapshot`` the sweep took once for all its trials."""
    say = progress or (lambda _msg: None)
    kind = workspace.compute_config(spec.compute)["type"]
    if spec.instance_count > 1 and kind == "local":
        raise JobSpecError(f"resources.instance_count is {spec.instance_count}, but `local` is one machine; "
                           "use an SSH pool or a Slurm compute, or distribution.process_count_per_instance",
                           "resources.instance_count", spec.source)
    if spec.instance_count > 1 and kind == "ssh":  # reserve N nodes at once; rank 0's is the run's node
        nodes = gang.select_nodes(workspace, spec.compute, spec.gpus, spec.instance_count, say)
        return _submit_to(workspace, spec, nodes, [], say, tags, use_current_env, parent, run_id, fields, snapshot)
    node, warnings = select_node(workspace, spec.compute, spec.gpus, reserve=True)
    try:
        return _submit_to(workspace, spec, [node], warnings, say, tags, use_current_env, parent, run_id, fields,
                          snapshot)
    finally:  # launched or not, the node's own answer now tells the next choice
        release_node(workspace, spec.compute, node)


def _submit_to(workspace: Workspace, spec: JobSpec, nodes: list[Node], warnings: list[str], say: Progress,
               tags: dict | None, use_current_env: bool, parent: str | None, run_id: str | None,
               fields: dict | None, snapshot: Snapshot | None) -> str:
    """``submit`` once its nodes are chosen."""
    node = nodes[0]
    for warning in warnings:
        say(f"warning: {warning}")
    environment = resolve_environment(workspace, spec, use_current_env)
    snapshot = snapshot or take_snapshot(spec.code, workspace.objects, workspace.limits["max_snapshot_bytes"],
                                         workspace.limits["max_snapshot_files"])
    for warning in snapshot.warnings:
        say(f"warning: {warning}")
    stray = find_stray_ignore_file(spec.code, Path(spec.source).parent) if spec.source.endswith(".yml") else None
    if stray:
        say(f"warning: {stray} is not read: ignore files belong in the code directory {spec.code}; move it there")
    inputs = _store_inputs(workspace, spec, say)
    store = RunStore(workspace.root)
    run_id = run_id or new_run_id(spec.experiment_name)
    env_spec = environment.compute_spec()
    held = store.create_submitting(new_record(
        run_id, spec.experiment_name, display_name=spec.display_name, description=spec.description,
        tags={**spec.tags, **(tags or {})}, compute=spec.compute, node=node.describe(), command=spec.command,
        code=str(spec.code), source=spec.source, timeout=spec.timeout, register_model=spec.register_model,
        not_responding_timeout=spec.not_responding_timeout,
        inputs={n: (i.value if i.is_literal else i.path) for n, i in spec.inputs.items()},
        environment={"name": environment.name, "version": environment.version, "spec": env_spec,
                     "hash": environment.compute_hash()},
        snapshot=snapshot.oid, input_manifests=inputs, parent=parent, **(fields or {}),
        **({"nodes": [n.describe() for n in nodes]} if len(nodes) > 1 else {})))
    launching = False
    try:
        write_json_atomic(store.run_dir(run_id) / "snapshot.json",
                          {**snapshot.summary(), "files": [f.to_dict() for f in snapshot.files]})
        say(f"snapshot {snapshot.oid[:12]}: {len(snapshot.files)} files, {snapshot.total_bytes / 1e6:.2f} MB "
            f"({snapshot.new_blobs} new blobs; ignore file: {snapshot.ignore_file or 'none'})")
        store.set_status(run_id, STARTING, f"syncing the snapshot to {', '.join(n.name for n in nodes)}")
        sent = sum(sync_blobs(n, workspace.objects, [snapshot.oid, *inputs.values()], say,
                              [b for b in base_manifests(store, spec.compute, n.name) if b != snapshot.oid])
                   for n in nodes)
        min_free = int(workspace.compute_config(spec.compute).get(
            "min_free_disk_bytes", workspace.limits["min_free_disk_bytes"]))
        jobs = []
        for n in nodes:
            node_run_dir = n.call("materialise", {
                "run_id": run_id, "manifest": snapshot.oid, "inputs": inputs,
                "copy_inputs": [name for name in inputs if spec.inputs[name].mode == DOWNLOAD]})["run_dir"]
            input_paths = _node_input_paths(workspace, spec, node_run_dir, inputs)
            command = spec.render_command(input_paths)
            env = {**environment.environment_variables, **spec.environment_variables, **command.env,
                   "TRAINYARD_RUN_ID": run_id, "TRAINYARD_EXPERIMENT": spec.experiment_name,
                   "TRAINYARD_RUN_DIR": node_run_dir, "TRAINYARD_INPUTS": json.dumps(input_paths),
                   "TRAINYARD_TABULAR": json.dumps({name: i.recipe for name, i in spec.inputs.items() if i.recipe}),
                   "PYTHONUNBUFFERED": "1",
                   **{f"TRAINYARD_INPUT_{name.upper()}": p for name, p in input_paths.items()}}
            jobs.append({"command": command.text, "environment": env_spec, "python": n.python, "uv": n.uv_path(),
                         "timeout": spec.timeout, "gpus": spec.gpus, "distribution": spec.distribution,
                         "grace_seconds": workspace.limits["cancel_grace_seconds"], "env": env,
                         "min_free_bytes": min_free, **_placement(workspace, spec, n)})
        if is_terminal(store.load(run_id)["status"]):  # `runs cancel` while it was being submitted
            raise RunError(f"run {run_id} was canceled before its launch; nothing runs on {node.name}", run_id)
        launching = True
        _launch(nodes, jobs, run_id, say)
        record = store.update(run_id, lambda r: r.update(rendered_command=jobs[0]["command"], bytes_sent=sent,
                                                          launched=True))
        if is_terminal(record["status"]):  # canceled while the launch was on its way
            for n in nodes:
                n.call("cancel", {"run_id": run_id})
    except BaseException as exc:  # Ctrl-C and SIGTERM too: never leave a run that cannot end
        store.set_status(run_id, *render_submit_failure(exc))
        if launching:  # the launch may have reached the node: make sure nothing runs there unrecorded
            for n in nodes:
                try:
                    n.call("cancel", {"run_id": run_id})
                except Exception:  # noqa: BLE001 - best effort; the status above is already final
                    pass
        raise
    finally:
        held.close()
    return run_id


def render_submit_failure(exc: BaseException) -> tuple[str, str]:
    """The status and reason a run gets when its submission stops before the launch (pure)."""
    if isinstance(exc, (KeyboardInterrupt, SystemExit)):
        return CANCELED, (f"{NEVER_LAUNCHED}: the submission was interrupted "
                          f"({type(exc).__name__}) before the launch reached the node")
    return FAILED, f"submission failed: {exc}"


def _launch(nodes: list[Node], jobs: list[dict], run_id: str, say: Progress) -> None:
    """Start the run's supervisor on each node; several nodes must all take their slots together, else
    every part is canceled and launched again (never a partial reservation)."""
    if len(nodes) == 1:
        nodes[0].call("launch", {"run_id": run_id, "job": jobs[0]})
        return
    meeting = gang.rendezvous(nodes)
    try:
        while True:
            for rank, (n, job) in enumerate(zip(nodes, jobs, strict=True)):
                n.call("launch", {"run_id": run_id, "job": {**job, "rendezvous": {**meeting, "node_rank": rank}}})
            if gang.all_reserved(nodes, run_id):
                return
            say(f"another run took a slot on one of {', '.join(n.name for n in nodes)}; releasing them and "
                "trying again")
            gang.cancel_all(nodes, run_id, wait=60)
            time.sleep(gang.RETRY_EVERY)
    except BaseException:  # Ctrl-C or an error while placing: leave no part running on any node
        gang.cancel_all(nodes, run_id)
        raise


def _placement(workspace: Workspace, spec: JobSpec, node: Node) -> dict:
    """Slots and GPUs of the chosen node, for its FIFO queue (pure over the config)."""
    config = workspace.compute_config(spec.compute)
    if config["type"] == "local":
        return {"slots": int(config.get("slots", 0)), "node_name": "local"}
    cfg = next(c for c in node_configs(workspace, spec.compute) if c.name == node.name)
    return {"slots": cfg.slot_count, "gpus_per_node": cfg.gpus, "node_name": f"{cfg.name} of pool {spec.compute}"}


def _store_inputs(workspace: Workspace, spec: JobSpec, progress: Progress | None = None) -> dict[str, str]:
    """Each file/folder input (local path, URL, registered dataset) → a manifest oid in the store."""
    manifests = {}
    for name, item in spec.inputs.items():
        if not item.is_literal:
            try:
                manifests[name] = resolve_input(workspace, item.path, progress)
            except DatasetError as exc:
                raise JobSpecError(f"input {name!r}: {exc}", f"inputs.{name}.path", spec.source) from None
    return manifests


def _node_input_paths(workspace: Workspace, spec: JobSpec, node_run_dir: str,
                      manifests: dict[str, str]) -> dict[str, str]:
    """Where each file/folder input appears on the node: the folder, or the one file of a uri_file."""
    paths = {}
    for name, oid in manifests.items():
        base = f"{node_run_dir}/inputs/{name}"
        if spec.inputs[name].type == "uri_file":
            entries = load_manifest(workspace.objects, oid)
            if len(entries) != 1:
                raise JobSpecError(f"input {name!r} is a uri_file but holds {len(entries)} files; use uri_folder",
                                   f"inputs.{name}.type", spec.source)
            base = f"{base}/{entries[0]['path']}"
        paths[name] = base
    return paths

