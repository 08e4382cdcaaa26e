"""A 2-process torch.distributed job (gloo all-reduce) for the multi-node tests."""

ALLREDUCE = r'''
import os
import torch
import torch.distributed as dist
from trainers import Run

dist.init_process_group("gloo")  # env://: MASTER_ADDR, MASTER_PORT, WORLD_SIZE, RANK
rank, world = dist.get_rank(), dist.get_world_size()
t = torch.tensor([float(rank + 1)])
dist.all_reduce(t)
print(f"rank {rank} of {world} (local {os.environ['LOCAL_RANK']}, node {os.environ['NODE_RANK']}): "
      f"sum {t.item():g}", flush=True)
Run.get_context().log("sum", t.item())
os.makedirs("outputs", exist_ok=True)
with open(f"outputs/rank_{rank}.txt", "w") as f:
    f.write(f"{t.item():g} {world} {os.environ['MASTER_ADDR']}")
dist.destroy_process_group()
'''

JOB = """\
experiment_name: ddp
code: src
command: python allreduce.py
environment:
  requirements: requirements.txt
resources:
  instance_count: {nodes}
distribution:
  type: pytorch
  process_count_per_instance: {per_node}
limits:
  timeout: 600
"""


def make_allreduce_project(root, nodes: int, per_node: int):
    (root / "src").mkdir(parents=True, exist_ok=True)
    (root / "src" / "allreduce.py").write_text(ALLREDUCE)
    (root / "requirements.txt").write_text("torch==2.14.1\n")  # the pytorch-cifar template's pin
    job = root / "job.yml"
    job.write_text(JOB.format(nodes=nodes, per_node=per_node))
    return job
