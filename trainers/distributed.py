"""Distributed runs (standard library only): one rank launcher per node starts the node's processes with the
variables Azure ML sets for PyTorch (``MASTER_ADDR``, ``MASTER_PORT``, ``WORLD_SIZE``, ``RANK``,
``LOCAL_RANK``, ``NODE_RANK``), writes each rank's output to ``logs/rank_<r>.txt`` (rank 0's also to the
launcher's stdout, i.e. ``std_log.txt``), and when one rank fails stops the others and exits with its code.

The supervisor starts the launcher itself on a single node, and through ``srun`` (one launcher task per
node, ``--kill-on-bad-exit``) on a Slurm allocation. MPI jobs get a hostfile and ``mpirun`` instead.

``python -S -m trainers.distributed --nproc K --nnodes N --node-rank R|--node-rank-env VAR
--master-addr A --master-port P --logs DIR -- ARGV…``
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

KINDS = ("pytorch", "mpi")


def rank_env(node_rank: int, local_rank: int, nproc: int, nnodes: int, master_addr: str,
             master_port: int) -> dict[str, str]:
    """The variables one process gets, as Azure ML sets them for PyTorch jobs (pure)."""
    return {"MASTER_ADDR": master_addr, "MASTER_PORT": str(master_port), "WORLD_SIZE": str(nproc * nnodes),
            "RANK": str(node_rank * nproc + local_rank), "LOCAL_RANK": str(local_rank),
            "NODE_RANK": str(node_rank), "LOCAL_WORLD_SIZE": str(nproc), "GROUP_RANK": str(node_rank)}


def render_job_argv(job: dict, run_dir: str, python: str, trainers_parent: str, master_addr: str,
                    master_port: int, node_rank: int = 0) -> list[str]:
    """What the supervisor runs for a distributed job (pure): the launcher (through srun on Slurm), or
    mpirun over a hostfile for MPI."""
    dist = job["distribution"]
    nnodes, nproc = int(dist.get("instance_count") or 1), int(dist.get("process_count_per_instance") or 1)
    user = ["/bin/bash", "--norc", "--noprofile", "-c", job["command"]]
    if dist.get("type") == "mpi":
        return ["mpirun", "--hostfile", f"{run_dir}/hostfile", "-np", str(nnodes * nproc),
                "--output-filename", f"{run_dir}/logs/mpi", *user]
    on_slurm = bool(job.get("slurm"))
    launcher = [python, "-S", "-m", "trainers.distributed", "--nproc", str(nproc), "--nnodes", str(nnodes),
                *(["--node-rank-env", "SLURM_NODEID"] if on_slurm else ["--node-rank", str(node_rank)]),
                "--master-addr", master_addr, "--master-port", str(master_port), "--logs", f"{run_dir}/logs",
                "--trainers", trainers_parent, "--", *user]
    if not on_slurm:
        return launcher
    return ["srun", f"--nodes={nnodes}", f"--ntasks={nnodes}", "--ntasks-per-node=1", "--kill-on-bad-exit=1",
            f"--cpus-per-task={nproc}", "--output=/dev/null", "--error=/dev/null", *launcher]


def job_argv(job: dict, run_dir: Path, trainers_parent: str) -> list[str]:
    """What the supervisor runs: the command under bash, or for a distributed job the rank launcher (with
    rank 0's address and a free port on it) or mpirun over a hostfile of the job's hosts."""
    if not job.get("distribution"):
        return ["/bin/bash", "--norc", "--noprofile", "-c", job["command"]]
    hosts = slurm_hosts() or [socket.gethostname()]
    per_node = int(job["distribution"].get("process_count_per_instance", 1))
    (run_dir / "hostfile").write_text(render_hostfile(hosts, per_node))
    meeting = job.get("rendezvous")  # several SSH nodes: rank 0's node and port, this node's rank
    if meeting:
        return render_job_argv(job, str(run_dir), sys.executable, trainers_parent, meeting["master_addr"],
                               meeting["master_port"], meeting["node_rank"])
    with socket.socket() as s:  # the master's rendezvous port, on this (the first) node
        s.bind(("", 0))
        port = s.getsockname()[1]
    return render_job_argv(job, str(run_dir), sys.executable, trainers_parent,
                           hosts[0] if job.get("slurm") else "127.0.0.1", port)


def render_hostfile(hosts: list[str], slots: int) -> str:
    return "".join(f"{h} slots={slots}\n" for h in hosts)


def slurm_hosts() -> list[str]:
    """The hosts of this Slurm allocation, in node-rank order."""
    nodelist = os.environ.get("SLURM_JOB_NODELIST")
    if not nodelist:
        return []
    out = subprocess.run(["scontrol", "show", "hostnames", nodelist], capture_output=True, text=True)
    return out.stdout.split() or [nodelist]


class Launcher:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.node_rank = int(os.environ[args.node_rank_env]) if args.node_rank_env else int(args.node_rank)
        self.procs: list[subprocess.Popen] = []
        self.stopping = False

    def start(self) -> None:
        a = self.args
        logs = Path(a.logs)
        logs.mkdir(parents=True, exist_ok=True)
        for local in range(a.nproc):
            env = {**os.environ, **rank_env(self.node_rank, local, a.nproc, a.nnodes, a.master_addr,
                                            a.master_port)}
            env["PYTHONPATH"] = os.pathsep.join(p for p in [a.trainers, env.get("PYTHONPATH")] if p)
            proc = subprocess.Popen(a.argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                                    stdin=subprocess.DEVNULL)
            rank = int(env["RANK"])
            threading.Thread(target=_copy, args=(proc.stdout, logs / f"rank_{rank}.txt", rank == 0),
                             daemon=True).start()
            self.procs.append(proc)

    def stop(self, *_args) -> None:
        self.stopping = True
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)

    def wait(self, grace: float = 10.0) -> int:
        """The first non-zero exit code (and the others stopped), else 0."""
        failed = 0
        while any(p.poll() is None for p in self.procs):
            bad = next((p.returncode for p in self.procs if p.returncode not in (None, 0)), 0)
            if bad and not failed:
                failed = bad
                self.stop()
                deadline = time.monotonic() + grace
                while any(p.poll() is None for p in self.procs) and time.monotonic() < deadline:
                    time.sleep(0.05)
                for p in self.procs:
                    if p.poll() is None:
                        p.kill()
            time.sleep(0.05)
        codes = [p.returncode for p in self.procs]
        first = failed or next((c for c in codes if c), 0)
        return 128 - first if first < 0 else first


def _copy(stream, path: Path, echo: bool) -> None:
    with open(path, "ab") as out:
        for line in iter(stream.readline, b""):
            out.write(line)
            out.flush()
            if echo:
                sys.stdout.buffer.write(line)
                sys.stdout.buffer.flush()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="trainers.distributed", description=__doc__.splitlines()[0])
    parser.add_argument("--nproc", type=int, required=True)
    parser.add_argument("--nnodes", type=int, required=True)
    parser.add_argument("--node-rank", type=int, default=0)
    parser.add_argument("--node-rank-env")
    parser.add_argument("--master-addr", required=True)
    parser.add_argument("--master-port", type=int, required=True)
    parser.add_argument("--logs", required=True)
    parser.add_argument("--trainers", default="")
    parser.add_argument("argv", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    if args.argv and args.argv[0] == "--":
        args.argv = args.argv[1:]
    launcher = Launcher(args)
    signal.signal(signal.SIGTERM, launcher.stop)
    signal.signal(signal.SIGINT, launcher.stop)
    launcher.start()
    code = launcher.wait()
    print(f"[trainyard] node {launcher.node_rank}: ranks exited with "
          f"{[p.returncode for p in launcher.procs]}", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
