"""The Pulumi program under Pulumi's mock engine (no CLI or provider plugins can be downloaded here)."""

from __future__ import annotations

import json

import pytest
import yaml
from trainyard_infra import policy
from trainyard_infra.nodepool import container_options
from trainyard_infra.render import render_sshd_config
from trainyard_infra.settings import InfraConfigError, Settings, parse_settings
from trainyard_infra.stack import build
from trainyard_infra.storage import storage_options

from tests.conftest import REPO, run_cli

CONTAINER = "docker:index/container:Container"


def run_stack(mocks, values: dict) -> dict:
    """Build the stack for ``values`` under mocks; returns the resolved outputs and their secrecy."""
    m, loop = mocks
    outputs = build(parse_settings(values), "test")

    async def resolve():
        from pulumi.runtime.stack import wait_for_rpcs

        result = {}
        for name, out in outputs.items():
            result[name] = (await out.future(), await out.is_secret())
        await wait_for_rpcs()  # every resource registered, as the engine waits before finishing
        return result

    return loop.run_until_complete(resolve())


def containers(m):
    return [r for r in m.of_type(CONTAINER) if r["name"] != "trainyard-registry-container"]


def assert_common(m, outputs):
    """Checks every configuration must pass."""
    names = [r["name"] for r in m.resources]
    assert len(names) == len(set(names)), "duplicate resource names"
    ports = [(p.get("ip"), p["external"]) for r in m.of_type(CONTAINER) for p in r["inputs"].get("ports", [])]
    assert len(ports) == len(set(ports)), "a host port is used twice"
    for r in m.resources:
        assert policy.ssh_not_open_to_world(r["type"], r["name"], r["inputs"]) == []
        assert policy.gpu_nodes_request_gpus(r["type"], r["name"], r["inputs"]) == []
    workspace, secret = outputs["workspace"]
    assert not secret and "PRIVATE KEY" not in json.dumps(workspace)
    if "clientPrivateKey" in outputs:
        key, is_secret = outputs["clientPrivateKey"]
        assert is_secret and "PRIVATE KEY" in key
    for r in containers(m):
        assert "@sha256:" in r["inputs"]["image"]  # run by digest


def test_cpu_only(mocks):
    """CPU-only: one provider, storage, registry, one image, N nodes with pinned host keys, no GPUs."""
    outputs = run_stack(mocks, {"cpuPoolSize": "3"})
    m, _ = mocks
    assert_common(m, outputs)
    assert sorted(r["name"] for r in containers(m)) == ["cpu-pool-0", "cpu-pool-1", "cpu-pool-2"]
    assert len(m.of_type("pulumi:providers:docker")) == 1 and len(m.of_type("docker:index/image:Image")) == 1
    assert all("deviceRequests" not in r["inputs"] for r in containers(m))
    nodes = outputs["workspace"][0]["computes"]["cpu-pool"]["nodes"]
    assert [n["port"] for n in nodes] == [2222, 2223, 2224]
    assert all(n["host"] == "127.0.0.1" and n["host_key"].startswith("ssh-ed25519 ") for n in nodes)
    assert "gpu-pool" not in outputs["workspace"][0]["computes"]
    first = next(r for r in containers(m) if r["name"] == "cpu-pool-0")["inputs"]
    assert first["memory"] == 7168 and first["cpus"] == "2"
    uploads = {u["file"]: u for u in first["uploads"]}
    assert "PRIVATE KEY" in uploads["/etc/ssh/ssh_host_ed25519_key"]["content"]
    assert uploads["/etc/ssh/authorized_keys/trainyard"]["content"].startswith("ssh-ed25519 ")
    assert not any("KEY" in e for e in first.get("envs", []))  # the client key is uploaded, never in env


def test_cpu_and_gpu(mocks):
    """CPU + GPU: GPU nodes request GPUs and are labelled; two images; GPU slots follow GPUs."""
    outputs = run_stack(mocks, {"cpuPoolSize": "1", "gpuPoolSize": "2", "gpusPerNode": "2"})
    m, _ = mocks
    assert_common(m, outputs)
    gpu = [r for r in containers(m) if r["name"].startswith("gpu-pool")]
    assert len(gpu) == 2 and all(r["inputs"]["deviceRequests"][0]["count"] == 2 for r in gpu)
    assert all(r["inputs"]["deviceRequests"][0]["capabilities"] == ["gpu"] for r in gpu)
    assert len(m.of_type("docker:index/image:Image")) == 2
    gpu_nodes = outputs["workspace"][0]["computes"]["gpu-pool"]["nodes"]
    assert [(n["gpus"], n["slots"]) for n in gpu_nodes] == [(2, 2), (2, 2)]


def test_two_docker_hosts(mocks):
    """Two Docker hosts: a provider and a protected storage volume each; remote nodes via ProxyJump."""
    outputs = run_stack(mocks, {"cpuPoolSize": "2", "registryAddress": "192.168.10.5",
                                "cpuPoolHosts": json.dumps(["unix:///var/run/docker.sock", "ssh://ops@box2"])})
    m, _ = mocks
    assert_common(m, outputs)
    assert len(m.of_type("pulumi:providers:docker")) == 2
    assert len([r for r in m.of_type("docker:index/volume:Volume") if r["name"].startswith("storage-")]) == 2
    nodes = outputs["workspace"][0]["computes"]["cpu-pool"]["nodes"]
    assert "proxy_jump" not in nodes[0] and nodes[1]["proxy_jump"] == "ops@box2"


def test_custom_sizes(mocks):
    """Explicit limits in a pool replace the size table."""
    pools = [{"name": "cpu-pool", "count": 1, "limits": {"cpus": 1.5, "memoryMb": 3000}}]
    outputs = run_stack(mocks, {"pools": json.dumps(pools)})
    m, _ = mocks
    assert_common(m, outputs)
    assert containers(m)[0]["inputs"]["memory"] == 3000 and containers(m)[0]["inputs"]["cpus"] == "1.5"


def test_third_pool_is_configuration(mocks):
    """A high-memory pool and a second GPU type are entries of trainyard:pools: three computes, right limits."""
    pools = [{"name": "cpu-pool", "count": 1},
             {"name": "highmem", "count": 1, "limits": {"cpus": 8, "memoryMb": 65536}},
             {"name": "gpu-big", "count": 1, "size": "Standard_NC64as_T4_v3"}]
    outputs = run_stack(mocks, {"pools": json.dumps(pools)})
    m, _ = mocks
    assert_common(m, outputs)
    computes = outputs["workspace"][0]["computes"]
    assert set(computes) == {"cpu-pool", "highmem", "gpu-big"}
    assert computes["gpu-big"]["nodes"][0]["gpus"] == 4 and computes["gpu-big"]["nodes"][0]["slots"] == 4
    by_name = {r["inputs"]["name"]: r["inputs"] for r in containers(m)}
    assert by_name["highmem-0"]["memory"] == 65536 and by_name["gpu-big-0"]["deviceRequests"][0]["count"] == 4


def test_several_hosts_need_a_reachable_registry(mocks):
    """Nodes on two Docker hosts with the registry on 127.0.0.1 are refused, pointing at registryAddress and
    insecure-registries; with registryAddress set, nodes pull from that address."""
    pools = json.dumps([{"name": "cpu-pool", "count": 1}, {"name": "gpu-pool", "count": 1,
                                                         "hosts": ["ssh://ops@gpu-box"], "gpus": 1}])
    with pytest.raises(InfraConfigError, match="registryAddress.*insecure-registries"):
        run_stack(mocks, {"pools": pools})
    outputs = run_stack(mocks, {"pools": pools, "registryAddress": "192.168.10.5"})
    assert outputs["registry"][0] == "192.168.10.5:5000"
    assert all(r["inputs"]["image"].startswith("192.168.10.5:5000/") for r in containers(mocks[0]))


def test_public_bind_is_flagged_by_policy(mocks):
    """bindAddress 0.0.0.0 publishes SSH on every interface: the policy rule says so."""
    run_stack(mocks, {"cpuPoolSize": "1", "bindAddress": "0.0.0.0"})
    m, _ = mocks
    violations = [v for r in m.resources for v in policy.ssh_not_open_to_world(r["type"], r["name"], r["inputs"])]
    assert violations and "every interface" in violations[0]


@pytest.mark.parametrize("values, words", [
    ({"cpuPoolSize": "-1"}, "cpuPoolSize is -1"),
    ({"cpuNodeSize": "Standard_Huge"}, "unknown node size 'Standard_Huge'"),
    ({"cpuPoolSize": "5", "sshPortStart": "2222", "sshPortEnd": "2224"}, "has 3 ports but the stack needs 5"),
    ({"bindAddress": "everywhere"}, "not an IP address"),
    ({"cpuPoolSize": "two"}, "must be a int"),
    ({"colour": "red"}, "unknown config key trainyard:colour"),
    ({"pools": json.dumps([{"name": "a", "count": 1}, {"name": "a"}])}, "names must be unique"),
    ({"pools": json.dumps([{"name": "a", "colour": 1}])}, "unknown key 'colour'"),
    ({"pools": json.dumps([{"name": "a"}]), "cpuPoolSize": "2"}, "pools replaces trainyard:cpuPoolSize"),
])
def test_invalid_configs_rejected_before_resources(mocks, values, words):
    """Invalid settings raise InfraConfigError naming the key, and no resource is created."""
    with pytest.raises(InfraConfigError, match=words):
        run_stack(mocks, values)
    assert mocks[0].resources == []


def test_resource_options_helpers():
    """Storage is protected and retained (checked by the policy rule); containers delete before replace."""
    opts = storage_options(None, None)
    assert opts.protect and opts.retain_on_delete
    assert policy.storage_protected("docker:index/volume:Volume", "v",
                                    {"labels": [{"label": "trainyard.role", "value": "storage"}]},
                                    opts.protect, opts.retain_on_delete) == []
    assert policy.storage_protected("docker:index/volume:Volume", "v",
                                    {"labels": [{"label": "trainyard.role", "value": "storage"}]}, False, True)
    assert container_options(None, None).delete_before_replace


def test_pulumi_yaml_defaults_match_settings():
    """Every key in Pulumi.yaml's config block exists in Settings with the same default, and back."""
    project = yaml.safe_load((REPO / "Pulumi.yaml").read_text())
    assert project["main"] == "infra/" and project["runtime"]["name"] == "python"
    declared = project["config"]
    defaults = Settings()
    assert set(declared) == set(vars(defaults)) - {"pools"}  # an object list: Pulumi cannot declare it
    for key, spec in declared.items():
        assert spec["default"] == getattr(defaults, key), key
        assert spec["description"]
    stack = yaml.safe_load((REPO / "Pulumi.dev.yaml").read_text())["config"]
    parse_settings({k.split(":", 1)[1]: v if isinstance(v, str) else json.dumps(v) for k, v in stack.items()})


def test_renderers():
    """The node image bakes in no host keys; sshd allows keys for one user only."""
    assert "rm -f /etc/ssh/ssh_host_*" in (REPO / "infra" / "node" / "Dockerfile").read_text()
    sshd = render_sshd_config("trainyard")
    assert "PasswordAuthentication no" in sshd and "AllowUsers trainyard" in sshd and "PermitRootLogin no" in sshd


def test_contract_outputs_import_stack_and_compute_list(mocks, tmp_path):
    """Mocked stack outputs → import-stack → Workspace.from_config → compute list --json shows pinned nodes."""
    outputs = run_stack(mocks, {"cpuPoolSize": "2", "gpuPoolSize": "1"})
    saved = tmp_path / "outputs.json"
    saved.write_text(json.dumps({k: v for k, (v, _) in outputs.items()}))
    result = run_cli("workspace", "import-stack", "--file", str(saved))
    assert result.returncode == 0, result.stderr
    from trainyard import Workspace

    ws = Workspace.from_config()
    assert set(ws.compute_targets) == {"local", "cpu-pool", "gpu-pool"}
    listed = {c["name"]: c for c in json.loads(run_cli("compute", "list", "--json").stdout)}
    nodes = listed["cpu-pool"]["nodes"]
    assert [n["name"] for n in nodes] == ["cpu-pool-0", "cpu-pool-1"]
    key_file = nodes[0]["identity_file"]
    assert oct(__import__("os").stat(key_file).st_mode & 0o777) == "0o600"
    assert "PRIVATE KEY" not in (tmp_path / ".trainyard" / "config.json").read_text()
    assert nodes[0]["host_key"] == outputs["workspace"][0]["computes"]["cpu-pool"]["nodes"][0]["host_key"]
    from trainyard.transport.ssh import parse_public_key

    assert parse_public_key(nodes[0]["host_key"]).get_name() == "ssh-ed25519"



def test_pulumi_yaml_passes_pulumis_project_schema():
    """Pulumi.yaml validates against the schema the Pulumi CLI applies (no `type: object`, pulumi#11321)."""
    import jsonschema

    schema = json.loads((REPO / "tests" / "infra" / "pulumi-project.schema.json").read_text())
    jsonschema.validate(yaml.safe_load((REPO / "Pulumi.yaml").read_text()), schema)
    with pytest.raises(jsonschema.ValidationError):  # the check has teeth: what was there before is refused
        jsonschema.validate({"name": "x", "runtime": "python", "config": {"limits": {"type": "object"}}}, schema)


def test_example_stack_is_a_working_case(mocks):
    """Pulumi.dev.yaml builds: three pools, the remote GPU node pulls from a registry address it can reach."""
    stack = yaml.safe_load((REPO / "Pulumi.dev.yaml").read_text())["config"]
    outputs = run_stack(mocks, {k.split(":", 1)[1]: v if isinstance(v, str) else json.dumps(v)
                                for k, v in stack.items()})
    assert set(outputs["workspace"][0]["computes"]) == {"cpu-pool", "gpu-pool", "highmem-pool"}
    assert not outputs["registry"][0].startswith("127.")
