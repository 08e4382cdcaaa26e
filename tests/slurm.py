"""A real single-node Slurm cluster on this machine for tests and benchmarks: munged, slurmctld and slurmd,
each with its own state directories, ports and munge socket (nothing under /etc or /run is used), so two
sessions never share state. Clients find it through ``SLURM_CONF``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from tests.sshd import free_ports

TOOLS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scancel", "sinfo", "srun")
# A fast scheduler for tests: a main-loop pass at every job event and every second, backfill off,
# finished jobs visible to squeue for 60 s (so their fate is read from the scheduler).
SCHEDULER_PARAMETERS = "sched_interval=1,sched_min_interval=0,max_rpc_cnt=0"

CONFIG = """\
ClusterName=trainyard-test
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmdParameters=config_overrides
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={base}/munge/munge.socket
CredType=cred/munge
StateSaveLocation={base}/ctld
SlurmdSpoolDir={base}/slurmd
SlurmctldPidFile={base}/slurmctld.pid
SlurmdPidFile={base}/slurmd.pid
SlurmctldLogFile={base}/slurmctld.log
SlurmdLogFile={base}/slurmd.log
ProctrackType=proctrack/pgid
TaskPlugin=task/none
MpiDefault=none
SwitchType=switch/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/builtin
SchedulerParameters={scheduler_parameters}
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
MinJobAge=60
KillWait=2
MessageTimeout=5
OverTimeLimit=0
Waittime=0
UnkillableStepTimeout=30
NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} Sockets=1 CoresPerSocket={cpus} ThreadsPerCore=1 RealMemory=2000 State=UNKNOWN
PartitionName=debug Nodes={host} Default=YES MaxTime=60 DefaultTime=10 State=UP
"""


def slurm_available() -> bool:
    return all(shutil.which(t) or os.path.exists(f"/usr/sbin/{t}") for t in TOOLS)


def _tool(name: str) -> str:
    return shutil.which(name) or f"/usr/sbin/{name}"


class SlurmCluster:
    """munged + slurmctld + slurmd on 127.0.0.1, declaring ``cpus`` CPUs on one node named after this host."""

    def __init__(self, base: Path, cpus: int = 4):
        self.base = base
        self.host = socket.gethostname().split(".")[0]
        self.cpus = cpus
        self.conf = base / "slurm.conf"
        self.procs: list[subprocess.Popen] = []

    @property
    def env(self) -> dict[str, str]:
        """What a client of this cluster needs in its environment."""
        return {"SLURM_CONF": str(self.conf)}

    def start(self) -> SlurmCluster:
        for d in ("munge", "ctld", "slurmd"):
            (self.base / d).mkdir(parents=True, exist_ok=True)
        os.chmod(self.base / "munge", 0o755)
        key = self.base / "munge" / "munge.key"
        key.write_bytes(os.urandom(128))
        os.chmod(key, 0o400)
        ctld_port, slurmd_port = free_ports(2)  # never the same port twice
        self.conf.write_text(CONFIG.format(host=self.host, base=self.base, ctld_port=ctld_port,
                                           slurmd_port=slurmd_port, cpus=self.cpus,
                                           scheduler_parameters=SCHEDULER_PARAMETERS))
        m = self.base / "munge"
        self._spawn([_tool("munged"), "--foreground", "--force", f"--socket={m}/munge.socket",
                     f"--key-file={key}", f"--pid-file={m}/munged.pid", f"--log-file={m}/munged.log",
                     f"--seed-file={m}/munged.seed"])
        self._wait(lambda: (m / "munge.socket").exists(), "munged")
        self.start_controller()
        self._spawn([_tool("slurmd"), "-D", "-f", str(self.conf), "-N", self.host])
        self._wait(self._node_idle, "slurmd (node idle)", timeout=60)
        return self

    def start_controller(self) -> None:
        self.controller = self._spawn([_tool("slurmctld"), "-D", "-i", "-f", str(self.conf)])

    def stop_controller(self) -> None:
        """Stop slurmctld (its state is saved; jobs keep running under slurmd), as in a controller outage."""
        os.killpg(self.controller.pid, signal.SIGTERM)
        self.controller.wait(timeout=30)
        self.procs.remove(self.controller)

    def _spawn(self, argv: list[str]) -> subprocess.Popen:
        log = open(self.base / f"{Path(argv[0]).name}.out", "ab")
        self.procs.append(subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                           env={**os.environ, **self.env}, start_new_session=True))
        return self.procs[-1]

    def _wait(self, ready, what: str, timeout: float = 30) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if ready():
                return
            for p in self.procs:
                if p.poll() is not None:
                    raise RuntimeError(f"{p.args[0]} exited ({p.returncode}) while waiting for {what}; "
                                       f"see {self.base}/*.log, *.out")
            time.sleep(0.2)
        raise RuntimeError(f"{what} not ready after {timeout} s; see {self.base}/*.log")

    def command(self, *argv: str, check: bool = True) -> str:
        out = subprocess.run([_tool(argv[0]), *argv[1:]], capture_output=True, text=True, timeout=30,
                             env={**os.environ, **self.env})
        if check and out.returncode:
            raise RuntimeError(f"{argv} failed: {out.stderr}")
        return out.stdout

    def _node_idle(self) -> bool:
        out = self.command("sinfo", "-h", "-N", "-o", "%T", check=False).strip()
        return out.rstrip("*~#") == "idle"

    def node_state(self) -> str:
        return self.command("sinfo", "-h", "-N", "-o", "%T").strip()

    def resume(self) -> None:
        """Bring the node back to service (after a test drained or downed it) and cancel every job."""
        self.command("scancel", "--full", "-u", os.environ.get("USER", "root"), check=False)
        state = self.node_state()
        if not state.startswith("idle") and not state.startswith("mix") and not state.startswith("alloc"):
            self.command("scontrol", "update", f"nodename={self.host}", "state=resume", check=False)
        self._wait(self._node_idle, "the node to be idle again", timeout=60)

    def stop(self) -> None:
        for p in reversed(self.procs):
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in reversed(self.procs):
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        self.procs.clear()
