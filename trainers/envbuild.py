"""Build or reuse a run's environment on a node (standard library only).

A ``venv`` spec becomes ``<root>/envs/<key>/``, a uv virtualenv, where ``key`` hashes the spec, the
resolved Python version and the platform. It is built once: builders take an exclusive lock on
``<key>.lock`` and re-check for the finished marker after getting it, so two runs asking at once build
it once. The marker (``trainyard-env.json``, with the resolved package list) is written last; a failed
build leaves nothing that looks finished.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

from ._atomic import read_json, write_json_atomic
from .objects import NodeError

MARKER = "trainyard-env.json"


class EnvironmentBuildError(NodeError):
    pass


def find_uv(root: Path, hint: str | None = None) -> str | None:
    for candidate in (hint, shutil.which("uv"), str(root / "tools" / "uv" / "bin" / "uv")):
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def uv_environment() -> dict:
    """uv never downloads interpreters, and trusts the platform's certificate store (where admins put a
    corporate CA); both can be overridden from the node's environment."""
    return {"UV_PYTHON_DOWNLOADS": "never", "UV_SYSTEM_CERTS": "1", "UV_NATIVE_TLS": "1", **os.environ}


def install_uv(root: Path, log: IO[str]) -> str:
    """Install uv from the package index into ``<root>/tools/uv`` (the node needs only python3)."""
    target = root / "tools" / "uv"
    log.write(f"[trainyard] uv not found on this node; installing it into {target}\n")
    log.flush()
    out = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                          "--target", str(target), "uv"], stdout=log, stderr=subprocess.STDOUT)
    uv = find_uv(root)
    if out.returncode != 0 or uv is None:
        raise EnvironmentBuildError(
            f"uv is not installed on this node and `{sys.executable} -m pip install uv` failed; install uv "
            "on the node (for example `pip install uv`) and submit again")
    return uv


def python_version(interpreter: str) -> str:
    out = subprocess.run([interpreter, "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
                         capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        raise EnvironmentBuildError(f"cannot run the interpreter {interpreter}: {out.stderr.strip()}")
    return out.stdout.strip()


def resolve_interpreter(uv: str | None, requested: str | None, default: str) -> str:
    """The interpreter for a spec: ``default`` when nothing is requested or it matches, else uv's find."""
    if not requested:
        return default
    have = python_version(default)
    if have == requested or have.startswith(requested.rstrip(".*") + "."):
        return default
    if uv:
        out = subprocess.run([uv, "python", "find", requested], capture_output=True, text=True,
                             env=uv_environment())
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip()
    raise EnvironmentBuildError(
        f"the environment asks for Python {requested}, but this node has Python "
        f"{have} ({default}) and no other match; install Python {requested} on the "
        "node or change the python version in the conda file"
    )


def compute_env_key(spec: dict, version: str) -> str:
    """The environment's directory name; what was dropped from a spec (``dropped``) is not part of it."""
    spec = {k: v for k, v in spec.items() if k != "dropped"}
    blob = json.dumps({"spec": spec, "python": version, "machine": platform.machine(),
                       "system": platform.system()}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


_IN_USE: list[IO] = []  # shared locks on the environments this process runs in, held until it exits


def hold_env(envs: Path, key: str) -> None:
    """Mark ``envs/<key>`` in use by this process (a shared flock on ``<key>.lock``, dropped when the process
    ends, however it ends) and as used now (the lock file's mtime), so gc neither removes it nor counts it
    idle. gc takes the same lock exclusively, without waiting, before removing an environment."""
    fh = open(envs / f"{key}.lock", "a")
    fcntl.flock(fh, fcntl.LOCK_SH)
    os.utime(envs / f"{key}.lock")
    _IN_USE.append(fh)


def check_free_space(root: Path, min_free_bytes: int) -> None:
    """Refuse to start a build on a node whose disk is under its free-space floor."""
    free = shutil.disk_usage(root).free
    if min_free_bytes and free < min_free_bytes:
        raise EnvironmentBuildError(
            f"only {free / 1e9:.1f} GB free under {root}, below this node's floor of {min_free_bytes / 1e9:.1f} GB; "
            "free space with `trainyard gc --compute COMPUTE` (old environments, blobs, finished runs) or lower "
            "limits.min_free_disk_bytes in the workspace config")


def ensure_env(root: Path, spec: dict, default_python: str, uv_hint: str | None, log: IO[str],
               should_stop: Any = None, min_free_bytes: int = 0) -> dict:
    """Return ``{"python", "path", "key", "cache_hit", "freeze", "build_seconds"}`` for ``spec``, holding
    the environment in use for the life of this process (see ``hold_env``)."""
    while True:
        info = _ensure_env(root, spec, default_python, uv_hint, log, should_stop, min_free_bytes)
        if info["key"] == "current":
            return info
        hold_env(root / "envs", info["key"])
        if (root / "envs" / info["key"] / MARKER).is_file():
            return info
        _IN_USE.pop().close()  # gc removed it between the check and the hold: get it again


def _ensure_env(root: Path, spec: dict, default_python: str, uv_hint: str | None, log: IO[str],
                should_stop: Any, min_free_bytes: int) -> dict:
    if spec.get("kind") == "current":
        return {"python": default_python, "path": None, "key": "current", "cache_hit": True,
                "freeze": None, "build_seconds": 0.0}
    if spec.get("dropped"):
        log.write(f"[trainyard] dropped {', '.join(spec['dropped'])} from the environment: jobs get the "
                  "azureml API (Run, Model) from Trainyard's compatibility package, not the Azure ML SDK\n")
    uv = find_uv(root, uv_hint)
    interpreter = resolve_interpreter(uv, spec.get("python"), default_python)
    version = python_version(interpreter)
    key = compute_env_key(spec, version)
    envs = root / "envs"
    path = envs / key
    marker = read_json(path / MARKER)
    if marker:
        log.write(f"[trainyard] environment {key[:12]} (Python {version}): cache hit\n")
        log.flush()
        return {**marker, "cache_hit": True, "build_seconds": 0.0}
    if uv is None:
        uv = install_uv(root, log)
    envs.mkdir(parents=True, exist_ok=True)
    with open(envs / f"{key}.lock", "w") as lock:
        log.write(f"[trainyard] environment {key[:12]}: waiting for the build lock\n")
        log.flush()
        fcntl.flock(lock, fcntl.LOCK_EX)
        marker = read_json(path / MARKER)
        if marker:  # another run built it while we waited
            log.write(f"[trainyard] environment {key[:12]}: built by a concurrent run, reusing it\n")
            log.flush()
            return {**marker, "cache_hit": True, "build_seconds": 0.0}
        check_free_space(root, min_free_bytes)
        return _build(uv, interpreter, version, spec, key, path, log, should_stop)


def _build(uv: str, interpreter: str, version: str, spec: dict, key: str, path: Path, log: IO[str],
           should_stop: Any) -> dict:
    started = time.monotonic()
    shutil.rmtree(path, ignore_errors=True)  # leftovers of a failed build
    log.write(f"[trainyard] environment {key[:12]} (Python {version}): cache miss, building with uv\n")
    if spec.get("image"):
        log.write(f"[trainyard] note: image {spec['image']} requested; this compute runs without "
                  "containers, so the packages are installed into a virtualenv\n")
    log.flush()
    env = {**uv_environment(), "VIRTUAL_ENV": str(path)}
    try:
        _run_logged([uv, "venv", "--quiet", "--python", interpreter, str(path)], env, log, should_stop)
        reqs = spec.get("requirements") or []
        if reqs:
            (path / "requirements.txt").write_text("\n".join(reqs) + "\n")
            _run_logged([uv, "pip", "install", "--python", str(path / "bin" / "python"), "-r",
                         str(path / "requirements.txt")], env, log, should_stop)
        freeze = subprocess.run([uv, "pip", "freeze", "--python", str(path / "bin" / "python")],
                                capture_output=True, text=True, env=env).stdout.splitlines()
    except BaseException:
        shutil.rmtree(path, ignore_errors=True)
        raise
    record = {"python": str(path / "bin" / "python"), "path": str(path), "key": key, "version": version,
              "freeze": freeze, "spec": spec}
    write_json_atomic(path / MARKER, record)
    seconds = time.monotonic() - started
    log.write(f"[trainyard] environment {key[:12]} built in {seconds:.1f} s ({len(freeze)} packages)\n")
    log.flush()
    return {**record, "cache_hit": False, "build_seconds": seconds}


def _run_logged(argv: list[str], env: dict, log: IO[str], should_stop: Any) -> None:
    log.write("$ " + " ".join(argv) + "\n")
    log.flush()
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    while True:
        try:
            code = proc.wait(timeout=0.2)
            break
        except subprocess.TimeoutExpired:
            if should_stop and should_stop():
                os.killpg(proc.pid, 15)
                proc.wait()
                raise EnvironmentBuildError("environment build interrupted") from None
    log.flush()
    if code != 0:
        raise EnvironmentBuildError(f"`{' '.join(argv[:3])}` failed with exit code {code}")
