"""The whole stack: providers per Docker host, storage, registry, node images, CPU and GPU pools, and
the ``workspace`` output (exactly the ``.trainyard/config.json`` schema)."""

from __future__ import annotations

import pulumi
import pulumi_docker as docker
import pulumi_tls as tls

from .image import NodeImage
from .nodepool import NodePool, NodeSpec
from .registry import Registry
from .render import STORAGE_MOUNT, address_of, render_workspace
from .settings import Settings
from .storage import Storage

POOLS = (("cpu", "cpu-pool"), ("gpu", "gpu-pool"))


def plan_nodes(settings: Settings) -> dict[str, list[NodeSpec]]:
    """Node names, hosts and unique host ports, round-robin over each pool's Docker hosts (pure)."""
    hosts = all_hosts(settings)
    port = settings.sshPortStart
    plan: dict[str, list[NodeSpec]] = {}
    for key, pool in POOLS:
        count = settings.cpuPoolSize if key == "cpu" else settings.gpuPoolSize
        pool_hosts = settings.pool_hosts(key)
        plan[pool] = []
        for i in range(count):
            host = pool_hosts[i % len(pool_hosts)]
            address, jump = address_of(host, settings.bindAddress)
            plan[pool].append(NodeSpec(f"{pool}-{i}", hosts.index(host), port, address, jump))
            port += 1
    return plan


def all_hosts(settings: Settings) -> list[str]:
    out: list[str] = []
    for host in [*settings.pool_hosts("cpu")] + ([*settings.pool_hosts("gpu")] if settings.gpuPoolSize else []):
        if host not in out:
            out.append(host)
    return out


def build(settings: Settings, stack_name: str = "dev") -> dict[str, pulumi.Output]:
    """Create every resource for ``settings`` (already validated); returns the stack outputs."""
    hosts = all_hosts(settings)
    providers = [docker.Provider(f"docker-{i}", host=h) for i, h in enumerate(hosts)]
    storages = [Storage(f"storage-{i}", settings.storageVolume, p) for i, p in enumerate(providers)]
    registry = Registry("trainyard-registry", settings.registryImage, settings.bindAddress, settings.registryPort,
                        providers[0])
    if settings.clientPublicKey:
        client_public, client_private = pulumi.Output.from_input(settings.clientPublicKey), None
    else:
        client_key = tls.PrivateKey("client-key", algorithm="ED25519")
        client_public = client_key.public_key_openssh
        client_private = pulumi.Output.secret(client_key.private_key_openssh)
    pools: dict[str, pulumi.Output] = {}
    components: dict[str, NodePool] = {}
    for key, pool in POOLS:
        specs = plan_nodes(settings)[pool]
        if not specs:
            continue
        image = NodeImage(f"{pool}-node", registry.url, settings.nodeImage + ("-gpu" if key == "gpu" else ""),
                          settings.nodeImageTag, settings.cpuBaseImage if key == "cpu" else settings.gpuBaseImage,
                          settings.sshUser, providers[0], depends_on=[registry.container])
        components[pool] = NodePool(pool, specs, image.ref, settings.node_limits(key), settings.bindAddress,
                                    [s.name for s in storages], client_public, settings.sshUser, providers)
        pools[pool] = components[pool].nodes
    storage = {"volume": settings.storageVolume, "mount": STORAGE_MOUNT, "hosts": hosts}
    workspace = pulumi.Output.all(registry.url, pulumi.Output.all(**pools)).apply(
        lambda args: render_workspace(f"trainyard-{stack_name}", args[1], args[0], storage))
    outputs = {"workspace": workspace, "registry": registry.url}
    if client_private is not None:
        outputs["clientPrivateKey"] = client_private
    return outputs


def main() -> None:
    from .settings import load_settings

    for name, value in build(load_settings(), pulumi.get_stack()).items():
        pulumi.export(name, value)
