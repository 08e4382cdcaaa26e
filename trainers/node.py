"""The node helper: stateless steps the control plane invokes on a node (standard library only).

``python -m trainers.node --root ROOT VERB`` reads a JSON payload on stdin and writes a JSON answer on
stdout. The local compute calls ``dispatch`` in-process; SSH nodes run the same module remotely.

Node layout (``ROOT``, default ``~/.trainyard``): ``objects/`` blob cache, ``envs/<key>/`` environments,
``runs/<run_id>/`` with ``src/`` (materialised snapshot), ``inputs/``, ``outputs/``, ``logs/``,
``job.json`` and ``status.json`` (written by the supervisor).
"""

from __future__ import annotations

import argparse
import base64
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

from . import slurm
from ._atomic import read_json, write_json_atomic
from .cleanup import collect
from .envbuild import find_uv
from .objects import NodeError, ObjectStore, hash_file, manifest_bytes
from .service import VERBS as SERVICE_VERBS
from .status import ACTIVE_ON_NODE, FAILED, LOST, PREPARING, QUEUED, has_ended_on_node, is_terminal
from .stream import read_frames, write_frame
from .supervisor import LOW_DISK_BYTES, TRAINERS_PARENT, is_alive, spawn_detached

MAX_CHUNK = 512 * 1024
MAX_POLL_WAIT = 5.0  # seconds a poll may be held open
POLL_INTERVAL = 0.02
RUN_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-]{0,299}")


class Node:
    def __init__(self, root: str | os.PathLike):
        self.root = Path(root).expanduser()
        self.objects = ObjectStore(self.root / "objects")

    def run_dir(self, run_id: str) -> Path:
        if not isinstance(run_id, str) or not RUN_ID_RE.fullmatch(run_id):
            raise NodeError(f"invalid run id {run_id!r}: letters, digits, '_' and '-' only")
        return self.root / "runs" / run_id

    # -- verbs ----------------------------------------------------------------------------------
    def info(self, payload: dict) -> dict:
        self.root.mkdir(parents=True, exist_ok=True)
        problems: list[str] = []
        runs = {d.name: st["state"] for d, st in self.run_statuses(problems) if not is_terminal(st.get("state"))}
        return {"problems": problems, "python": sys.version.split()[0], "executable": sys.executable, "root": str(self.root),
                "uv": find_uv(self.root), "free_disk": shutil.disk_usage(self.root).free,
                "gpus": _count_gpus(), "runs": sorted(runs), "busy_slots": _busy_slots(self.root),
                "running": sorted(r for r, s in runs.items() if s in ACTIVE_ON_NODE),
                "queued": sorted(r for r, s in runs.items() if s == QUEUED)}

    def have(self, payload: dict) -> dict:
        """The oids the node lacks; an object altered since it was stored (a job wrote through its link) is
        dropped here and so reported missing."""
        return {"missing": [oid for oid in payload["oids"] if not self.objects.repair(oid)]}

    def put_manifest(self, payload: dict) -> dict:
        """Store a manifest sent whole (``entries``) or as a delta on a ``base`` the node has; the result
        must hash to ``oid``."""
        base = None
        if "entries" not in payload:
            self.objects.verify(payload["base"])
            base = json.loads(self.objects.path(payload["base"]).read_bytes())
        data = manifest_bytes(apply_manifest_delta(payload, base))
        oid, _ = self.objects.add_bytes(data) if hashlib.sha256(data).hexdigest() == payload["oid"] else (None, 0)
        if oid is None:
            raise NodeError(f"manifest {payload['oid'][:12]} did not reassemble correctly; submit again")
        return {"oid": oid}

    def receive(self, stream, count: int) -> dict:
        """Store ``count`` blob frames (header ``{"oid", "size"}``) from ``stream``, verifying each hash."""
        for header, body in read_frames(stream, count):
            self.objects.add_stream(body, header["oid"])
        return {"stored": count}

    def send(self, payload: dict, out) -> None:
        """Answer ``{"count": n}``, then n frames of the run's regular files named in ``paths``."""
        run_dir = self.run_dir(payload["run_id"])
        files = []
        for rel in payload["paths"]:
            path = run_dir / rel
            if not path.is_symlink() and path.is_file() and path.resolve().is_relative_to(run_dir.resolve()):
                files.append((rel, path))
        out.write((json.dumps({"count": len(files)}) + "\n").encode())
        for rel, path in files:
            write_frame(out, {"path": rel}, str(path), path.stat().st_size, digest=True)
        out.flush()

    def materialise(self, payload: dict) -> dict:
        """Create ``runs/<id>/src`` (and inputs) fresh from manifests by hard links into objects/; inputs
        named in ``copy_inputs`` (mode ``download``) get writable copies of their own instead."""
        run_dir = self.run_dir(payload["run_id"])
        if run_dir.exists():
            raise NodeError(f"run directory {run_dir} already exists")
        tmp = run_dir.with_name(f".{run_dir.name}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        self._link_manifest(payload["manifest"], tmp / "src")
        copies = set(payload.get("copy_inputs") or [])
        for name, oid in (payload.get("inputs") or {}).items():
            self._link_manifest(oid, tmp / "inputs" / name, copy=name in copies)
        for d in ("outputs", "logs"):
            (tmp / d).mkdir(parents=True, exist_ok=True)
            os.symlink(f"../{d}", tmp / "src" / d)
        os.replace(tmp, run_dir)
        return {"run_dir": str(run_dir)}

    def _link_manifest(self, manifest_oid: str, dest: Path, copy: bool = False) -> None:
        self.objects.verify(manifest_oid)
        entries = json.loads(self.objects.path(manifest_oid).read_bytes())
        dest.mkdir(parents=True, exist_ok=True)
        for e in entries:
            rel = Path(e["path"])
            if rel.is_absolute() or ".." in rel.parts:
                raise NodeError(f"manifest entry {e['path']!r} escapes the run directory")
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            if not self.objects.repair(e["oid"]):
                raise NodeError(f"the node's copy of {e['path']} is missing or was altered (and dropped); "
                                "submit again to re-send it")
            src = self.objects.path(e["oid"])
            if copy or e["mode"] & 0o111:  # objects are read-only; copies (and executables) are the run's own
                shutil.copyfile(src, target)
                os.chmod(target, 0o755 if e["mode"] & 0o111 else 0o644)
            else:
                try:
                    os.link(src, target)
                except OSError:
                    shutil.copyfile(src, target)

    def launch(self, payload: dict) -> dict:
        if payload["job"].get("slurm"):  # a job for the cluster's scheduler: sbatch its supervisor
            return slurm.launch(self, payload)
        run_dir = self.run_dir(payload["run_id"])
        job = {**payload["job"], "root": str(self.root)}
        job["python"] = job.get("python") or sys.executable
        if job.get("slots"):  # join this node's FIFO queue now, so submit order is queue order
            job["queue_entry"] = f"{time.time_ns():020d}_{payload['run_id']}"
            (self.root / "queue").mkdir(parents=True, exist_ok=True)
            (self.root / "queue" / job["queue_entry"]).write_text("")
        write_json_atomic(run_dir / "job.json", job)
        (run_dir / "cancel").unlink(missing_ok=True)  # a part launched again (multi-node placement retry)
        write_json_atomic(run_dir / "status.json", {"state": QUEUED if job.get("slots") else PREPARING,
                                                    "reason": "starting the supervisor", "history": [],
                                                    "updated": time.time()})
        env = {**os.environ, "PYTHONPATH": TRAINERS_PARENT}
        # -S: the supervisor is standard library only, so skip site-packages and their .pth start-up cost
        pid = spawn_detached([sys.executable, "-S", "-m", "trainers.supervisor", str(run_dir)], run_dir, env,
                             run_dir / "supervisor.log")
        return {"supervisor_pid": pid}

    def poll(self, payload: dict) -> dict:
        """Status plus new bytes of each log file past the client's offsets. With ``wait`` (seconds) and
        ``known`` ([state, reason] the client has), hold the answer until something changes or ``wait``
        passes (a long poll: the client hears of a change at once, with no round trips in between)."""
        deadline = time.monotonic() + min(float(payload.get("wait") or 0), MAX_POLL_WAIT)
        known = payload.get("known")
        while True:
            answer = self._poll_once(payload)
            if answer["chunks"] or has_ended_on_node(answer.get("state")) or \
                    [answer.get("state"), answer.get("reason")] != known or time.monotonic() >= deadline:
                return answer
            time.sleep(POLL_INTERVAL)

    def _poll_once(self, payload: dict) -> dict:
        run_dir = self.run_dir(payload["run_id"])
        status = read_status(run_dir / "status.json")
        if status is None:
            what = "an unreadable status for" if (run_dir / "status.json").exists() else "no"
            return {"state": LOST, "reason": f"the node has {what} run {payload['run_id']} (was it cleaned up?)"}
        if not is_terminal(status.get("state")) and status.get("supervisor_pid") and \
                status.get("scheduler") != slurm.SCHEDULER and \
                not is_alive(status["supervisor_pid"], status.get("supervisor_start")):
            status = read_status(run_dir / "status.json") or status  # it may have finished just now
            if not is_terminal(status.get("state")):
                status = self._supervisor_gone(run_dir, status)
        offsets = payload.get("offsets") or {}
        chunks, budget = {}, MAX_CHUNK
        logs = run_dir / "logs"
        for path in sorted(logs.rglob("*")) if logs.is_dir() else []:
            rel = path.relative_to(logs).as_posix()
            if not path.is_file() or path.is_symlink() or rel.startswith("images/") or budget <= 0:
                continue
            offset = int(offsets.get(rel, 0))
            size = path.stat().st_size
            if size > offset:
                with open(path, "rb") as fh:
                    fh.seek(offset)
                    data = fh.read(min(size - offset, budget))
                budget -= len(data)
                chunks[rel] = base64.b64encode(data).decode()
        return {**status, "chunks": chunks}

    def _supervisor_gone(self, run_dir: Path, status: dict) -> dict:
        """The run's supervisor died: stop the job it left behind (nothing would collect it) and record
        Failed with the cause; on a full disk the answer still says so even if it cannot be stored."""
        if status.get("pid") and is_alive(status["pid"], status.get("pid_start")):
            try:
                os.killpg(status["pid"], signal.SIGKILL)
            except OSError:
                pass
        reason = ("the run's supervisor process is gone (the node restarted or the process was killed); "
                  "resubmit the run")
        if shutil.disk_usage(self.root).free < LOW_DISK_BYTES:
            reason = f"no space left on the node ({self.root} is full); free disk space and resubmit the run"
        now = time.time()
        status = {**status, "state": FAILED, "reason": reason, "ended": now, "updated": now,
                  "history": [*status.get("history", []), {"state": FAILED, "time": now, "reason": reason}]}
        try:
            write_json_atomic(run_dir / "status.json", status)
        except OSError:
            pass
        return status

    def cancel(self, payload: dict) -> dict:
        run_dir = self.run_dir(payload["run_id"])
        status = read_status(run_dir / "status.json") or {}
        if not run_dir.is_dir():  # never launched here (or cleaned up): nothing to stop
            return {"state": None, "requested": False}
        if status.get("scheduler") == slurm.SCHEDULER:
            return slurm.cancel(self, payload)
        if is_terminal(status.get("state")):
            return {"state": status["state"], "requested": False}
        (run_dir / "cancel").write_text(payload.get("reason") or "canceled by the user")
        return {"state": status.get("state"), "requested": True}

    def list_files(self, payload: dict) -> dict:
        """Every entry under the run's outputs/ and logs/, described but not judged (the client does);
        sha256 only for ``hash_paths`` (files the client may already have)."""
        run_dir = self.run_dir(payload["run_id"])
        wanted_hashes = set(payload.get("hash_paths") or [])
        entries = []
        for top in ("outputs", "logs"):
            base = run_dir / top
            for dirpath, dirnames, filenames in os.walk(base):
                for name in dirnames + filenames:
                    path = Path(dirpath, name)
                    rel = path.relative_to(run_dir).as_posix()
                    st = path.lstat()
                    entry = {"path": rel, "size": st.st_size}
                    if stat.S_ISLNK(st.st_mode):
                        entry.update(type="symlink", target=os.readlink(path))
                    elif stat.S_ISDIR(st.st_mode):
                        continue
                    elif stat.S_ISREG(st.st_mode):
                        entry.update(type="file")
                        if rel in wanted_hashes:
                            entry["sha256"] = hash_file(path)
                    else:
                        entry.update(type="other")
                    entries.append(entry)
        return {"entries": entries}

    def run_statuses(self, problems: list[str] | None = None) -> list[tuple[Path, dict]]:
        """(run directory, status) of every run on this node that has a readable status. The node's own
        directories are untrusted (a job running as root can write anything there): entries that are not
        run directories, or whose status is unreadable, are skipped and described in ``problems``."""
        out = []
        for d in _entries(self.root / "runs", problems):
            if d.name.startswith("."):
                continue  # a materialise in progress
            if d.is_symlink() or not d.is_dir():
                _report(problems, f"{d} is not a run directory; remove it")
                continue
            st = read_status(d / "status.json")
            if st is None and (d / "status.json").exists():
                _report(problems, f"{d / 'status.json'} is unreadable; the run is skipped")
            elif isinstance(st, dict) and isinstance(st.get("state"), str):
                out.append((d, st))
        return out

    def gc(self, payload: dict) -> dict:
        """Remove idle environments, unlinked blobs and pulled run directories (see ``trainers.cleanup``)."""
        return collect(self.root, payload)


def apply_manifest_delta(payload: dict, base: list[dict] | None) -> list[dict]:
    """The entries a ``put_manifest`` payload describes: its ``entries``, or ``base`` with its ``remove``
    paths dropped and its ``set`` entries applied (pure)."""
    if "entries" in payload:
        return payload["entries"]
    by_path = {e["path"]: e for e in base or []}
    for path in payload.get("remove", []):
        by_path.pop(path, None)
    by_path.update({e["path"]: e for e in payload.get("set", [])})
    return list(by_path.values())


VERBS = {"info", "have", "put_manifest", "materialise", "launch", "poll", "cancel", "list_files", "gc",
         *SERVICE_VERBS}


def dispatch(root: str | os.PathLike, verb: str, payload: dict) -> dict:
    if verb in slurm.VERBS:
        return slurm.dispatch(Node(root), verb, payload)
    if verb not in VERBS:
        raise NodeError(f"unknown node verb {verb!r}")
    if verb in SERVICE_VERBS:
        return SERVICE_VERBS[verb](Node(root), payload)
    return getattr(Node(root), verb)(payload)


def read_status(path: Path) -> dict | None:
    """A status.json, or None when it is missing, unreadable or not a JSON object (never raises)."""
    try:
        data = read_json(path)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _entries(directory: Path, problems: list[str] | None) -> list[Path]:
    try:
        return sorted(directory.iterdir())
    except FileNotFoundError:
        return []
    except OSError as exc:
        _report(problems, f"{directory} cannot be listed: {exc.strerror}")
        return []


def _report(problems: list[str] | None, text: str) -> None:
    if problems is not None:
        problems.append(text)


def _busy_slots(root: Path) -> int:
    """How many slot locks are held right now (each running run on a slotted node holds one)."""
    busy = 0
    for lock in (root / "slots").glob("*.lock") if (root / "slots").is_dir() else []:
        if lock.is_symlink() or not lock.is_file():
            continue
        with open(lock, "w") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                fcntl.flock(fh, fcntl.LOCK_UN)
            except OSError:
                busy += 1
    return busy


def _count_gpus() -> int:
    smi = shutil.which("nvidia-smi")
    if not smi:
        return 0
    try:
        out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return 0
    return sum(1 for line in out.splitlines() if line.startswith("GPU "))


def answer(root: str, verb: str, payload: dict) -> dict:
    """Run one verb; failures become ``{"error": ...}`` answers instead of tracebacks."""
    try:
        return dispatch(root, verb, payload)
    except NodeError as exc:
        return {"error": str(exc), "type": type(exc).__name__}
    except Exception as exc:  # noqa: BLE001 - report anything to the control plane, keep serving
        return {"error": f"{type(exc).__name__}: {exc}", "type": "InternalError"}


def serve(root: str) -> int:
    """Answer JSON-line requests ``{"verb", "payload"}`` on stdin until EOF (one process per connection).

    ``receive`` is followed on stdin by ``payload.count`` blob frames; ``send`` answers with frames."""
    inp, out = sys.stdin.buffer, sys.stdout.buffer
    out.write((json.dumps({"ready": True, "pid": os.getpid()}) + "\n").encode())  # the client waits for this
    out.flush()
    while line := inp.readline():
        if not line.strip():
            continue
        request = json.loads(line)
        verb, payload = request["verb"], request.get("payload") or {}
        if verb == "send":
            Node(root).send(payload, out)
            continue
        if verb == "receive":
            result = answer_stream(lambda p=payload: Node(root).receive(inp, int(p["count"])))
        else:
            result = answer(root, verb, payload)
        out.write((json.dumps(result) + "\n").encode())
        out.flush()
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="trainers.node", description=__doc__.splitlines()[0])
    parser.add_argument("--root", default="~/.trainyard")
    parser.add_argument("verb", choices=sorted(VERBS | slurm.VERBS | {"serve"}))
    args = parser.parse_args(argv)
    if args.verb == "serve":
        return serve(args.root)
    result = answer(args.root, args.verb, json.loads(sys.stdin.read() or "{}"))
    json.dump(result, sys.stdout)
    return 3 if "error" in result else 0


def answer_stream(fn) -> dict:
    try:
        return fn()
    except (NodeError, OSError, ValueError) as exc:
        return {"error": str(exc), "type": type(exc).__name__}


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
