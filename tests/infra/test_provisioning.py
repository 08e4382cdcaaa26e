"""ComputeTarget.create / delete (v1 provisioning) driving the infra program through the Automation API.

The Automation API boundary (``trainyard_infra.automation.up_stack`` / ``destroy_stack``) is replaced by a
stand-in that runs the real inline program under Pulumi's mock engine; the error path without a Pulumi CLI
is real."""

from __future__ import annotations

import json
import os
import sys

import pulumi
import pytest
from trainyard_infra import automation

from trainyard.core import Workspace
from trainyard.core.compute import AmlCompute, ComputeTarget
from trainyard.core.compute_target import ComputeTargetException


@pytest.fixture
def engine(mocks, monkeypatch):
    """up_stack/destroy_stack run the inline program under the mock engine and record their calls."""
    _, loop = mocks
    calls = []

    def up_stack(stack_name, settings, on_output=None):
        calls.append(("up", stack_name, settings))
        pulumi.runtime.set_all_config(automation.render_config(settings))
        automation.program(stack_name)()

        async def resolve():
            from pulumi.runtime.settings import get_root_resource
            from pulumi.runtime.stack import wait_for_rpcs

            outputs = {k: await v.future() for k, v in get_root_resource().outputs.items()}
            await wait_for_rpcs()
            return outputs

        return loop.run_until_complete(resolve())

    def destroy_stack(stack_name, on_output=None):
        calls.append(("destroy", stack_name, None))

    monkeypatch.setattr(automation, "up_stack", up_stack)
    monkeypatch.setattr(automation, "destroy_stack", destroy_stack)
    return calls


def test_v1_create_wait_status_delete(engine, tmp_path, capsys):
    """The v1 notebook pattern: lookup fails → create (stack per workspace and compute, vm_size → size table,
    max_nodes → pool size) → nodes in the config as import-stack writes them → wait/status → delete."""
    ws = Workspace.init(tmp_path, name="lab")
    try:
        target = ComputeTarget(workspace=ws, name="cpu-cluster")
    except ComputeTargetException:
        config = AmlCompute.provisioning_configuration(vm_size="Standard_D2_v2", min_nodes=0, max_nodes=3,
                                                       idle_seconds_before_scaledown=600)
        target = ComputeTarget.create(ws, "cpu-cluster", config)
    assert engine == [("up", "lab-cpu-cluster", {"cpuPoolSize": 3, "gpuPoolSize": 0,
                                                 "cpuNodeSize": "Standard_D2_v2"})]
    target.wait_for_completion(show_output=True, min_node_count=None, timeout_in_minutes=20)
    assert "cpu-cluster: Succeeded" in capsys.readouterr().out
    status = target.get_status().serialize()
    assert status["provisioning_state"] == "Succeeded" and status["provisioning"]["max_nodes"] == 3
    saved = json.loads((tmp_path / ".trainyard" / "config.json").read_text())["computes"]["cpu-cluster"]
    assert [n["name"] for n in saved["nodes"]] == ["cpu-pool-0", "cpu-pool-1", "cpu-pool-2"]
    assert all(n["host_key"].startswith("ssh-ed25519 ") for n in saved["nodes"])
    key = saved["nodes"][0]["identity_file"]
    assert oct(os.stat(key).st_mode & 0o777) == "0o600" and "PRIVATE KEY" not in json.dumps(saved)
    assert Workspace.from_config(tmp_path).compute_targets["cpu-cluster"].type == "ssh"
    target.delete()
    assert engine[-1] == ("destroy", "lab-cpu-cluster", None)
    assert "cpu-cluster" not in Workspace.from_config(tmp_path).compute_targets


def test_gpu_size_makes_a_gpu_pool(engine, tmp_path):
    """A GPU vm_size fills the GPU pool with that size's GPUs per node."""
    ws = Workspace.init(tmp_path)
    target = ComputeTarget.create(ws, "gpu", AmlCompute.provisioning_configuration(
        vm_size="STANDARD_NC4AS_T4_V3", max_nodes=1))
    assert engine[0][2] == {"cpuPoolSize": 0, "gpuPoolSize": 1, "gpuNodeSize": "STANDARD_NC4AS_T4_V3",
                            "gpusPerNode": 1}
    assert target.nodes[0]["gpus"] == 1


def test_unknown_size_lists_the_table(tmp_path):
    """An unknown vm_size is a ComputeTargetException listing the size table; nothing is provisioned."""
    ws = Workspace.init(tmp_path)
    with pytest.raises(ComputeTargetException, match="unknown node size 'Standard_XL'.*STANDARD_D2_V2"):
        ComputeTarget.create(ws, "c", AmlCompute.provisioning_configuration(vm_size="Standard_XL", max_nodes=2))
    with pytest.raises(ComputeTargetException, match="max_nodes"):
        AmlCompute.provisioning_configuration(vm_size="STANDARD_D2_V2")


def test_without_pulumi_cli_create_says_what_is_missing(tmp_path, monkeypatch):
    """The real Automation API with no pulumi CLI: a ComputeTargetException naming it and offering attach."""
    monkeypatch.setenv("PATH", os.path.dirname(sys.executable))  # this venv only: no pulumi CLI
    monkeypatch.setenv("PULUMI_HOME", str(tmp_path / "pulumi-home"))
    ws = Workspace.init(tmp_path)
    with pytest.raises(ComputeTargetException, match="Pulumi CLI is not installed.*trainyard compute attach"):
        ComputeTarget.create(ws, "cpu", AmlCompute.provisioning_configuration(vm_size="STANDARD_D2_V2", max_nodes=1))
    assert "cpu" not in Workspace.from_config(tmp_path).compute_targets
