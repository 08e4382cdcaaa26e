"""Several processes of one job on the local machine: the rank launcher without a scheduler."""

from __future__ import annotations

import json

from tests.conftest import run_cli, write
from trainyard import Run, Workspace

RANKS = """\
import os, sys
from trainers import Run
print("rank", os.environ["RANK"], "of", os.environ["WORLD_SIZE"], "local", os.environ["LOCAL_RANK"],
      "master", os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"], flush=True)
Run.get_context().log("rank", int(os.environ["RANK"]))
sys.exit(int(os.environ["RANK"]) * int(sys.argv[1]))
"""


def job(tmp_path, fail: int = 0):
    write(tmp_path / "src" / "ranks.py", RANKS)
    return write(tmp_path / "job.yml", f"code: src\ncommand: python ranks.py {fail}\n"
                 "distribution:\n  type: pytorch\n  process_count_per_instance: 3\n")


def test_three_processes_get_ranks_logs_and_rank_zero_metrics(tmp_path):
    """process_count_per_instance 3 on local: RANK 0..2, one log per rank, metrics from rank 0 only."""
    out = run_cli("submit", str(job(tmp_path)), "--json")
    assert out.returncode == 0, out.stderr
    details = json.loads(out.stdout)
    assert details["metrics"] == {"rank": 0}
    logs = Run(Workspace.load(), details["runId"]).run_dir / "logs"
    for rank in range(3):
        assert f"rank {rank} of 3 local {rank} master 127.0.0.1" in (logs / f"rank_{rank}.txt").read_text()
    assert "rank 0 of 3" in (logs / "std_log.txt").read_text()


def test_failing_rank_fails_the_run(tmp_path):
    """Ranks 1 and 2 exit non-zero: the run fails with a rank's exit code."""
    out = run_cli("submit", str(job(tmp_path, fail=5)), "--json")
    details = json.loads(out.stdout)
    assert details["status"] == "Failed" and out.returncode == 3  # 3: the run failed (README, exit codes)
    assert details["exitCode"] in (5, 10), details
