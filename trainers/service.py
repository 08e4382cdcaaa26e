"""Web services on a node: the node verbs and the service supervisor (standard library only).

The verbs take the ``trainers.node.Node`` that dispatches them (its root and its manifest linking).

Layout of ``<root>/services/<name>/``: ``service.json`` (what to serve: environment spec, entry script,
framework, port, limits), ``keys.json`` (mode 0600), ``azureml-models/<model>/<version>/`` (hard links into
the blob cache), ``src`` (a symlink to the current ``src.<n>/`` copy of the source directory),
``status.json`` (written by the supervisor), ``ready.json`` (written by the server), ``logs/``.

``python -S -m trainers.service DIR`` is the supervisor, started detached like a run's: it builds or reuses
the environment (the same ``envs/<key>`` cache as runs), starts ``trainers.serve`` in it, marks the service
Healthy once the server is ready, and restarts it with backoff when it dies (Unhealthy meanwhile; the
count and the cause stay in the status). A server that dies before it was ever ready three times in a row
makes the service Failed. A ``stop`` file ends it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path

from ._atomic import read_json, write_bytes_atomic, write_json_atomic
from .envbuild import EnvironmentBuildError, ensure_env
from .objects import NodeError
from .status import FAILED, HEALTHY, TRANSITIONING, UNHEALTHY
from .supervisor import TRAINERS_PARENT, _terminate, is_alive, process_start_time

EARLY_DEATHS_BEFORE_FAILED = 3
MAX_BACKOFF = 30.0
STOP_WAIT = 15.0


def service_dir(root: Path, name: str) -> Path:
    if not name or "/" in name or name.startswith("."):
        raise NodeError(f"invalid service name {name!r}")
    return root / "services" / name


# -- node verbs ------------------------------------------------------------------------------------------
def deploy(node, payload: dict) -> dict:
    """(Re)create a service directory from manifests and start its supervisor detached."""
    root = node.root
    name = payload["name"]
    target = service_dir(root, name)
    if target.exists():
        stop(node, {"name": name})
    tmp = target.with_name(f".{name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    for model in payload.get("models", []):
        node._link_manifest(model["manifest"], tmp / "azureml-models" / model["name"] / str(model["version"]))
    (tmp / "logs").mkdir(parents=True, exist_ok=True)
    _link_source(node, tmp, payload.get("source"))
    spec = dict(payload["spec"], name=name, root=str(root))
    spec["python"] = spec.get("python") or sys.executable  # the node's own interpreter, as for runs
    if spec.get("entry_script"):
        spec["entry_script"] = str(target / "src" / spec["entry_script"])
    write_json_atomic(tmp / "service.json", spec)
    write_bytes_atomic(tmp / "keys.json", json.dumps(payload.get("keys") or {}).encode(), mode=0o600)
    write_json_atomic(tmp / "status.json", {"state": TRANSITIONING, "reason": "starting the supervisor",
                                            "restarts": 0, "updated": time.time()})
    os.replace(tmp, target)
    env = {**os.environ, "PYTHONPATH": TRAINERS_PARENT}
    proc = subprocess.Popen([sys.executable, "-S", "-m", "trainers.service", str(target)], cwd=target,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=open(target / "logs" / "supervisor.log", "ab"), env=env, start_new_session=True)
    return {"dir": str(target), "supervisor_pid": proc.pid}


def _link_source(node, base: Path, manifest: str | None) -> None:
    """Materialise the source directory as ``src.<n>`` and point the ``src`` symlink at it (atomically)."""
    n = 1 + max((int(p.name.split(".", 1)[1]) for p in base.glob("src.*") if p.name.split(".", 1)[1].isdigit()),
                default=0)
    fresh = base / f"src.{n}"
    if manifest:
        node._link_manifest(manifest, fresh)
    else:
        fresh.mkdir(parents=True)
    link = base / f".src.{n}.link"
    os.symlink(fresh.name, link)
    os.replace(link, base / "src")
    for old in base.glob("src.*"):
        if old != fresh and old.name.split(".", 1)[1].isdigit():
            shutil.rmtree(old, ignore_errors=True)


def status(node, payload: dict) -> dict:
    target = service_dir(node.root, payload["name"])
    st = read_json(target / "status.json")
    if st is None:
        return {"state": None, "reason": f"the node has no service {payload['name']!r}"}
    if st.get("state") != FAILED and st.get("supervisor_pid") and \
            not _running(st["supervisor_pid"], st.get("supervisor_start")):
        st = {**st, "state": FAILED, "reason": "the service's supervisor is gone (the node restarted or it was "
              "killed); deploy again (overwrite=True) to start it"}
    return st


def reload(node, payload: dict) -> dict:
    """Swap in a new source directory and/or keys, then SIGHUP the server; waits for it to reload."""
    target = service_dir(node.root, payload["name"])
    if "source" in payload:
        _link_source(node, target, payload["source"])
    if "keys" in payload:
        write_bytes_atomic(target / "keys.json", json.dumps(payload["keys"]).encode(), mode=0o600)
    st = status(node, payload)
    pid = st.get("server_pid")
    if st.get("state") != HEALTHY or not _running(pid, st.get("server_start")):
        return {"reloaded": False, "reason": f"the service is {st.get('state')}: {st.get('reason') or ''}; the "
                "change applies when its server starts again"}
    before = (read_json(target / "ready.json") or {}).get("generation", 0)
    os.kill(pid, signal.SIGHUP)
    deadline = time.monotonic() + float(payload.get("timeout", 120))
    while time.monotonic() < deadline:
        ready = read_json(target / "ready.json") or {}
        if ready.get("pid") == pid and ready.get("generation", 0) > before:
            return {"reloaded": ready.get("reload_error") is None, "reload_error": ready.get("reload_error")}
        time.sleep(0.05)
    return {"reloaded": False, "reload_error": "the server did not finish reloading in time"}


def logs(node, payload: dict) -> dict:
    target = service_dir(node.root, payload["name"])
    out = {}
    for name in ("environment_build.log", "server.log"):
        path = target / "logs" / name
        if path.is_file():
            out[name] = _tail(path, int(payload.get("lines") or 5000))
    return {"logs": out}


def stop(node, payload: dict) -> dict:
    """Stop the supervisor and its server, wait until the port is free, remove the directory."""
    target = service_dir(node.root, payload["name"])
    st = read_json(target / "status.json") or {}
    if target.is_dir():
        (target / "stop").write_text(str(time.time()))
    deadline = time.monotonic() + STOP_WAIT
    while _running(st.get("supervisor_pid"), st.get("supervisor_start")) and time.monotonic() < deadline:
        time.sleep(0.05)
        st = read_json(target / "status.json") or st
    for key in ("server", "supervisor"):  # whatever is still there after the wait
        if _running(st.get(f"{key}_pid"), st.get(f"{key}_start")):
            _kill_group(st[f"{key}_pid"], signal.SIGKILL)
    shutil.rmtree(target, ignore_errors=True)
    return {"stopped": True, "port": st.get("port")}


def list_services(node, payload: dict) -> dict:
    base = node.root / "services"
    names = sorted(d.name for d in base.iterdir() if d.is_dir() and not d.name.startswith(".")) \
        if base.is_dir() else []
    return {"services": {n: status(node, {"name": n}) for n in names}}


VERBS = {"service_deploy": deploy, "service_status": status, "service_reload": reload, "service_logs": logs,
         "service_stop": stop, "service_list": list_services}


# -- the supervisor -----------------------------------------------------------------------------------------
class ServiceSupervisor:
    def __init__(self, directory: Path):
        self.dir = directory
        self.spec = json.loads((directory / "service.json").read_text())
        self.status = read_json(directory / "status.json", {}) or {}

    def write(self, **fields) -> None:
        self.status.update(fields, updated=time.time())
        write_json_atomic(self.dir / "status.json", self.status)

    def stopping(self) -> bool:
        return (self.dir / "stop").exists()

    def main(self) -> int:
        self.write(supervisor_pid=os.getpid(), supervisor_start=process_start_time(os.getpid()),
                   state=TRANSITIONING, reason="preparing the environment")
        try:
            with open(self.dir / "logs" / "environment_build.log", "a") as log:
                env_info = ensure_env(Path(self.spec["root"]), self.spec["environment"], self.spec["python"],
                                      self.spec.get("uv"), log, self.stopping)
        except EnvironmentBuildError as exc:
            tail = _tail(self.dir / "logs" / "environment_build.log", 20)
            self.write(state=FAILED, reason=f"environment build failed: {exc}\n{tail}")
            return 1
        env_info.pop("freeze", None)
        self.write(environment={k: env_info.get(k) for k in ("key", "cache_hit", "build_seconds", "python")})
        return self.serve(env_info)

    def serve(self, env_info: dict) -> int:
        backoff, early_deaths = 0.5, 0
        port = int(self.spec.get("port") or 0)
        while not self.stopping():
            proc = self.start_server(env_info, port)
            started, ready = time.monotonic(), None
            while proc.poll() is None and not self.stopping():
                if ready is None:
                    info = read_json(self.dir / "ready.json") or {}
                    if info.get("pid") == proc.pid:
                        ready, port = time.monotonic(), int(info["port"])
                        self.write(state=HEALTHY, reason=None, port=port, ready_seconds=ready - started)
                self.enforce_memory(proc)
                time.sleep(0.05)
            if self.stopping():
                _terminate(proc, 5.0)
                break
            code = proc.returncode
            cause = f"killed by signal {signal.Signals(-code).name}" if code < 0 else f"exited with code {code}"
            self.status["restarts"] = self.status.get("restarts", 0) + 1
            self.status.setdefault("crashes", []).append({"time": time.time(), "cause": cause})
            del self.status["crashes"][:-10]
            if ready is None:
                early_deaths += 1
                if early_deaths >= EARLY_DEATHS_BEFORE_FAILED:
                    self.write(state=FAILED, reason=f"the server {cause} before it was ready, "
                               f"{early_deaths} times in a row:\n{_tail(self.dir / 'logs' / 'server.log', 20)}")
                    return 1
            else:
                early_deaths = 0
                if time.monotonic() - ready > 60:
                    backoff = 0.5
            self.write(state=UNHEALTHY, reason=f"the server {cause}; restarting in {backoff:.1f} s "
                       f"(restart {self.status['restarts']})")
            deadline = time.monotonic() + backoff
            while time.monotonic() < deadline and not self.stopping():
                time.sleep(0.05)
            backoff = min(backoff * 2, MAX_BACKOFF)
        self.write(state=TRANSITIONING, reason="stopped", server_pid=None)
        return 0

    def start_server(self, env_info: dict, port: int) -> subprocess.Popen:
        models = self.dir / "azureml-models"
        names = sorted(p for p in models.iterdir()) if models.is_dir() else []
        model_dir = models
        if len(names) == 1 and len(versions := sorted(names[0].iterdir())) == 1:
            model_dir = versions[0]  # one model: its version folder, as v1 does
        env = {**os.environ, **(self.spec.get("env") or {}), "AZUREML_MODEL_DIR": str(model_dir),
               "TRAINYARD_MODELS_ROOT": str(models), "TRAINYARD_SERVICE_DIR": str(self.dir),
               "TRAINYARD_MODEL_FRAMEWORK": self.spec.get("framework") or "", "PYTHONUNBUFFERED": "1"}
        env["PYTHONPATH"] = os.pathsep.join(p for p in [TRAINERS_PARENT, env.get("PYTHONPATH")] if p)
        if env_info.get("path"):
            env["VIRTUAL_ENV"] = env_info["path"]
            env["PATH"] = os.path.join(env_info["path"], "bin") + os.pathsep + env.get("PATH", "")
        cpus = self.spec.get("cpu_cores")

        def limit_cpus() -> None:
            if cpus and hasattr(os, "sched_setaffinity"):
                allowed = sorted(os.sched_getaffinity(0))
                os.sched_setaffinity(0, allowed[:max(1, min(len(allowed), int(-(-float(cpus) // 1))))])

        with open(self.dir / "logs" / "server.log", "ab") as out:
            proc = subprocess.Popen(
                [env_info["python"], "-m", "trainers.serve", str(self.dir), "--port", str(port),
                 "--host", self.spec.get("host") or "127.0.0.1"],
                cwd=self.dir, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env,
                start_new_session=True, preexec_fn=limit_cpus)
        self.write(server_pid=proc.pid, server_start=process_start_time(proc.pid), state=TRANSITIONING
                   if self.status.get("state") != UNHEALTHY else UNHEALTHY,
                   reason=self.status.get("reason") or "starting the server")
        return proc

    def enforce_memory(self, proc: subprocess.Popen) -> None:
        """Kill a server whose resident memory is over ``memory_gb`` (it is restarted, and says why)."""
        limit = self.spec.get("memory_gb")
        if not limit:
            return
        try:
            with open(f"/proc/{proc.pid}/status") as fh:
                rss_kb = next(int(line.split()[1]) for line in fh if line.startswith("VmRSS:"))
        except (OSError, StopIteration, ValueError):
            return
        if rss_kb > float(limit) * (1 << 20):
            print(f"server uses {rss_kb / (1 << 20):.2f} GB, over memory_gb={limit}; killing it", file=sys.stderr,
                  flush=True)
            _kill_group(proc.pid, signal.SIGKILL)


def _running(pid: int | None, start: str | None) -> bool:
    """``is_alive``, and not a zombie (a supervisor started by an in-process local node is our child until
    reaped, and its /proc entry stays until then)."""
    if not is_alive(pid, start):
        return False
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def _kill_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def _tail(path: Path, lines: int) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(max(0, os.path.getsize(path) - lines * 300))
            text = fh.read().decode(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def main(directory: str) -> int:
    sup = ServiceSupervisor(Path(directory))
    try:
        return sup.main()
    except Exception as exc:  # the supervisor must always leave a final state behind
        sup.write(state=FAILED, reason=f"the service supervisor crashed: {exc!r}\n{traceback.format_exc()[-2000:]}")
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
