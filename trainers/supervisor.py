"""The run supervisor: started detached (own session) by ``trainers.node launch``; outlives the client.

``python -m trainers.supervisor RUN_DIR`` reads ``job.json``, prepares the environment (build log in
``logs/environment_build.log``), runs the command in its own process group with stdout/stderr in
``logs/std_log.txt``, enforces the timeout, honours cancel requests (the ``cancel`` file: SIGTERM to the
group, SIGKILL after a grace period) and writes ``status.json`` atomically at every transition.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path

from ._atomic import read_json, write_json_atomic
from .distributed import job_argv
from .envbuild import EnvironmentBuildError, ensure_env
from .status import CANCELED, COMPLETED, FAILED, PREPARING, QUEUED, RUNNING, is_terminal

GRACE_SECONDS = 10.0
RESERVE_BYTES = 256 * 1024
SUPERVISOR_START_NS = 60 * 10**9  # a queued run's supervisor must have recorded its pid within this time
LOW_DISK_BYTES = 1 << 20  # below this much free space, a failure is blamed on a full disk
TRAINERS_PARENT = str(Path(__file__).resolve().parent.parent)
COMPAT_PATH = str(Path(__file__).resolve().parent / "compat")  # the stdlib ``azureml`` shim for v1 scripts


def _proc_stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (state first), or None without procfs."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def process_start_time(pid: int) -> str | None:
    """Kernel start time of ``pid`` (clock ticks since boot), so a reused pid is not mistaken."""
    fields = _proc_stat(pid)
    return fields[19] if fields and len(fields) > 19 else None


def is_alive(pid: int | None, start_time: str | None) -> bool:
    """Whether the process ``pid`` started at ``start_time`` still runs; a zombie (dead, not yet reaped by
    its parent) is not alive."""
    if not pid:
        return False
    fields = _proc_stat(pid)
    if fields and fields[0] in ("Z", "X"):
        return False
    current = fields[19] if fields and len(fields) > 19 else None
    if current is None:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return start_time is None
    return start_time is None or current == start_time


class Supervisor:
    def __init__(self, run_dir: Path):
        self.run_dir = run_dir
        self.job = json.loads((run_dir / "job.json").read_text())
        self.status_path = run_dir / "status.json"
        self.logs = run_dir / "logs"
        self.cancel_path = run_dir / "cancel"
        self.status = read_json(self.status_path, {}) or {}
        self.reserve = run_dir / ".reserve"  # freed to write the final status on a full disk

    def keep_reserve(self) -> None:
        with open(self.reserve, "wb") as fh:
            fh.write(b"\0" * RESERVE_BYTES)
            os.fsync(fh.fileno())

    def write(self, **fields) -> None:
        now = time.time()
        if "state" in fields and fields["state"] != self.status.get("state"):
            self.status.setdefault("history", []).append({"state": fields["state"], "time": now,
                                                          "reason": fields.get("reason")})
        self.status.update(fields, updated=now)
        try:
            write_json_atomic(self.status_path, self.status)
        except OSError as exc:
            if exc.errno != errno.ENOSPC or not self.reserve.exists():
                raise
            self.reserve.unlink()  # the space kept for this moment: the final status still gets written
            write_json_atomic(self.status_path, self.status)

    def on_sigterm(self, *_args) -> None:
        """SIGTERM not preceded by Trainyard's cancel comes from the scheduler (scancel, preemption, a node
        going down): stop like a cancel, and say so, so the scheduler's own record can name the cause."""
        if not self.cancel_path.exists():
            self.scheduler_signal = True
            self.cancel_path.write_text("SIGTERM")

    def forget_scheduler_stop(self) -> None:
        """Drop what the scheduler's SIGTERM left (its cancel marker, the previous end) before running again."""
        if self.cancel_path.exists() and self.cancel_path.read_text() == "SIGTERM":
            self.cancel_path.unlink()
        for key in ("ended", "exit_code", "signal", "scheduler_signal"):
            self.status.pop(key, None)

    def cancel_reason(self, default: str) -> str:
        if getattr(self, "scheduler_signal", False):
            return "stopped by SIGTERM from the scheduler (scancel, preemption or a node failure)"
        return default

    def cancel_requested(self) -> bool:
        return self.cancel_path.exists()

    def main(self) -> int:
        # Slurm requeued the job: the first write replaces the killed attempt's end, which a poll would
        # otherwise take (without its scheduler_signal) as this run's end
        restart, afresh = os.environ.get("SLURM_RESTART_COUNT", "0"), {}
        if restart != "0":
            self.forget_scheduler_stop()
            afresh = {"state": PREPARING, "reason": f"Slurm restarted the job (restart {restart}); starting again"}
        self.keep_reserve()
        self.write(supervisor_pid=os.getpid(), supervisor_start=process_start_time(os.getpid()), **afresh,
                   **({"slurm_job_id": os.environ["SLURM_JOB_ID"]} if "SLURM_JOB_ID" in os.environ else {}))
        # a scheduler's cancel (scancel) is SIGTERM: treated as a cancel request; SIGUSR1 is Slurm's warning
        # that the job's time limit is near (sbatch --signal)
        signal.signal(signal.SIGTERM, self.on_sigterm)
        signal.signal(signal.SIGUSR1, lambda *_: setattr(self, "time_limit_reached", True))
        self.logs.mkdir(parents=True, exist_ok=True)
        if self.job.get("slots"):
            self.slot = self.wait_for_slot()
            if self.slot is None:
                return self.finish(CANCELED, self.cancel_reason("canceled while queued"))
        self.write(state=PREPARING, reason="preparing the environment")
        deadline = time.monotonic() + float(self.job.get("timeout") or 2592000)
        try:
            with open(self.logs / "environment_build.log", "a") as log:
                env_info = ensure_env(Path(self.job.get("env_root") or self.job["root"]), self.job["environment"],
                                      self.job["python"], self.job.get("uv"), log, self.cancel_requested,
                                      int(self.job.get("min_free_bytes") or 0))
        except EnvironmentBuildError as exc:
            if self.cancel_requested():
                return self.finish(CANCELED, self.cancel_reason("canceled while preparing the environment"))
            tail = _tail(self.logs / "environment_build.log")
            return self.finish(FAILED, f"environment build failed: {exc}\n{tail}", error_kind="environment")
        freeze = env_info.pop("freeze", None)
        if freeze is not None:
            (self.logs / "environment_packages.txt").write_text("\n".join(freeze) + "\n")
        self.write(environment=env_info)
        if self.cancel_requested():
            return self.finish(CANCELED, self.cancel_reason("canceled before the job started"))
        return self.run_job(env_info, deadline)

    def wait_for_slot(self) -> int | None:
        """Wait (FIFO on this node) for a free slot; returns its index, or None if canceled meanwhile.

        A slot is an exclusive ``flock`` on ``slots/<i>.lock`` held until this process exits, so a crashed
        supervisor frees its slot by itself. Only the oldest queue entry may take a slot.
        """
        root = Path(self.job["root"])
        queue, slots_dir = root / "queue", root / "slots"
        slots_dir.mkdir(parents=True, exist_ok=True)
        mine = queue / self.job["queue_entry"]
        while True:
            if self.cancel_requested():
                mine.unlink(missing_ok=True)
                return None
            entries = _live_queue(queue, root)
            if entries and entries[0] == mine.name:
                for i in range(int(self.job["slots"])):
                    fh = open(slots_dir / f"{i}.lock", "w")
                    try:
                        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    except OSError:
                        fh.close()
                        continue
                    self._slot_lock = fh  # held for the life of this process
                    mine.unlink(missing_ok=True)
                    self.write(slot=i)
                    return i
            position = entries.index(mine.name) + 1 if mine.name in entries else 1
            reason = (f"waiting for a free slot on {self.job.get('node_name', 'this node')} "
                      f"({self.job['slots']} slot(s) busy; position {position} of {len(entries)} in its queue)")
            if self.status.get("reason") != reason:
                self.write(state=QUEUED, reason=reason)
            time.sleep(0.2)

    def run_job(self, env_info: dict, deadline: float) -> int:
        env = {**os.environ, **self.job.get("env", {})}
        if getattr(self, "slot", None) is not None and self.job.get("gpus_per_node"):
            env["CUDA_VISIBLE_DEVICES"] = str(self.slot)
        env["PYTHONPATH"] = os.pathsep.join(p for p in [TRAINERS_PARENT, COMPAT_PATH, env.get("PYTHONPATH")] if p)
        if env_info.get("path"):
            env["VIRTUAL_ENV"] = env_info["path"]
            env["PATH"] = os.path.join(env_info["path"], "bin") + os.pathsep + env.get("PATH", "")
        else:
            env["PATH"] = os.path.dirname(env_info["python"]) + os.pathsep + env.get("PATH", "")
        with open(self.logs / "std_log.txt", "ab") as out:
            # --norc --noprofile: bash sources ~/.bashrc when it looks started by sshd (SSH_CLIENT set, own
            # session), and a pyenv/conda init there would put another `python` ahead of the job's environment
            proc = subprocess.Popen(job_argv(self.job, self.run_dir, TRAINERS_PARENT),
                                    cwd=self.run_dir / "src",
                                    stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env,
                                    start_new_session=True)
        self.write(state=RUNNING, reason=None, pid=proc.pid, pid_start=process_start_time(proc.pid),
                   started=time.time())
        outcome = None
        while True:
            try:
                code = proc.wait(timeout=0.05)
                break
            except subprocess.TimeoutExpired:
                pass
            if outcome is None and self.cancel_requested():
                outcome = (CANCELED, self.cancel_reason(self.cancel_path.read_text().strip() or "canceled by the user"))
            elif outcome is None and time.monotonic() > deadline:
                outcome = (FAILED, f"timed out after {int(self.job['timeout'])} s: the run's time limit "
                                   "(limits.timeout)")
            elif outcome is None and getattr(self, "time_limit_reached", False):
                outcome = (FAILED, "reached the Slurm time limit of the job (sbatch --time)")
            if outcome is not None:
                code = _terminate(proc, float(self.job.get("grace_seconds", GRACE_SECONDS)))
                break
        if outcome is not None:
            return self.finish(*outcome, exit_code=code)
        if code == 0:
            return self.finish(COMPLETED, None, exit_code=0)
        if code < 0:
            name = signal.Signals(-code).name
            return self.finish(FAILED, f"the job was killed by signal {name} ({-code})\n"
                               + _tail(self.logs / "std_log.txt"), exit_code=code, signal=name)
        return self.finish(FAILED, f"the job exited with code {code}{_signal_note(code)}\n"
                           + _tail(self.logs / "std_log.txt"), exit_code=code)

    def finish(self, state: str, reason: str | None, **extra) -> int:
        if state == FAILED and (not self.reserve.exists() or
                                shutil.disk_usage(self.run_dir).free < LOW_DISK_BYTES):
            reason = f"no space left on the node ({self.job['root']} is full): {reason}"
        if getattr(self, "scheduler_signal", False):
            extra["scheduler_signal"] = True
        self.write(state=state, reason=reason, ended=time.time(), **extra)
        self.reserve.unlink(missing_ok=True)
        return 0


def _live_queue(queue: Path, root: Path) -> list[str]:
    """Queue entries (oldest first) whose run still waits. The queue is untrusted: an entry that names no
    run, a finished run, or a run whose supervisor is gone (or never started) is removed, so a stray file
    never holds the queue."""
    out = []
    try:
        entries = sorted(queue.iterdir())
    except OSError:
        return out
    for entry in entries:
        stamp, _, run_id = entry.name.partition("_")
        try:
            status = read_json(root / "runs" / run_id / "status.json") if run_id else None
        except (OSError, ValueError):
            status = None
        if not isinstance(status, dict) or not stamp.isdigit() or entry.is_symlink() or not entry.is_file():
            status = {}
        sup = status.get("supervisor_pid")
        young = stamp.isdigit() and time.time_ns() - int(stamp) < SUPERVISOR_START_NS
        stale = not status and not young or is_terminal(status.get("state")) or (
            sup is not None and not is_alive(sup, status.get("supervisor_start"))) or (
            sup is None and not young)
        if not stale:
            out.append(entry.name)
            continue
        try:
            (shutil.rmtree if entry.is_dir() and not entry.is_symlink() else os.unlink)(entry)
        except OSError:
            pass  # not ours to remove (permissions): it is still skipped
    return out


def _signal_note(code: int) -> str:
    """" (128 + 9: killed by SIGKILL)" for a shell's exit code of a process killed by a signal."""
    try:
        name = signal.Signals(code - 128).name if 128 < code < 128 + 65 else None
    except ValueError:
        name = None
    return f" (128 + {code - 128}: a process of the job was killed by {name})" if name else ""


def _terminate(proc: subprocess.Popen, grace: float) -> int:
    """SIGTERM the job's process group, SIGKILL after the grace period; returns the exit code."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            return proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
    return proc.wait()


def _tail(path: Path, lines: int = 20) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.rstrip().splitlines()[-lines:])


def main(run_dir: str) -> int:
    sup = Supervisor(Path(run_dir))
    try:
        return sup.main()
    except Exception as exc:  # the supervisor must always leave a terminal status behind
        return sup.finish(FAILED, f"the run supervisor crashed: {exc!r}\n{traceback.format_exc()[-2000:]}")


def spawn_detached(argv: list[str], cwd: str | os.PathLike, env: dict, stderr_path: str | os.PathLike) -> int:
    """Start ``argv`` as a grandchild in its own session and return its pid. The intermediate child exits
    at once and is reaped here, so the long-lived caller (the node helper, the CLI on ``local``) never
    holds a zombie: a killed supervisor is re-parented to init, which reaps it."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # intermediate: new session, fork the real process, report its pid, exit
        try:
            os.close(read_end)
            os.setsid()
            with open(stderr_path, "ab") as err:
                proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=err)
            os.write(write_end, str(proc.pid).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as fh:
        data = fh.read()
    os.waitpid(pid, 0)
    if not data:
        raise OSError(f"could not start {argv[0]} (see {stderr_path})")
    return int(data)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
