"""Distributed job configurations (Azure ML SDK v1 names): ``PyTorchConfiguration`` and ``MpiConfiguration``
for ``ScriptRunConfig(distributed_job_config=…)``. Each renders the job spec's distribution, the same
``{type, instance_count, process_count_per_instance}`` that job.yml's ``distribution`` gives.
"""

from __future__ import annotations

from .errors import JobSpecError


class PyTorchConfiguration:
    """``process_count`` processes in all, over ``node_count`` nodes (v1's meaning)."""

    def __init__(self, communication_backend: str = "Nccl", process_count: int | None = None,
                 node_count: int = 1):
        self.communication_backend = communication_backend
        self.process_count = process_count
        self.node_count = node_count

    def to_distribution(self) -> dict:
        total = self.process_count or self.node_count
        if self.node_count < 1 or total % self.node_count:
            raise JobSpecError(f"PyTorchConfiguration: process_count {total} is not a multiple of node_count "
                               f"{self.node_count}; give the same number of processes to every node",
                               "distributed_job_config")
        return {"type": "pytorch", "instance_count": self.node_count,
                "process_count_per_instance": total // self.node_count}


class MpiConfiguration:
    """``process_count_per_node`` processes on each of ``node_count`` nodes (v1's meaning)."""

    def __init__(self, process_count_per_node: int = 1, node_count: int = 1):
        self.process_count_per_node = process_count_per_node
        self.node_count = node_count

    def to_distribution(self) -> dict:
        if self.node_count < 1 or self.process_count_per_node < 1:
            raise JobSpecError("MpiConfiguration: node_count and process_count_per_node must be at least 1",
                               "distributed_job_config")
        return {"type": "mpi", "instance_count": self.node_count,
                "process_count_per_instance": self.process_count_per_node}
