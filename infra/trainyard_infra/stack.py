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


def plan_nodes(settings: Settings) -> dict[str, list[NodeSpec]]:
    """Node names, hosts and unique host ports, round-robin over each pool's Docker hosts (pure)."""
    hosts = all_hosts(settings)
    port = settings.sshPortStart
    plan: dict[str, list[NodeSpec]] = {}
    for pool in settings.pool_specs():
        plan[pool.name] = []
        for i in range(pool.count):
            host = pool.hosts[i % len(pool.hosts)]
            address, jump = address_of(host, settings.bindAddress)
            plan[pool.name].append(NodeSpec(f"{pool.name}-{i}", hosts.index(host), port, address, jump))
            port += 1
    return plan


def all_hosts(settings: Settings) -> list[str]:
    """Docker hosts in use, the registry's (the first pool's first host, else dockerHost) first."""
    out: list[str] = []
    pools = settings.pool_specs()
    for host in [*pools[0].hosts] + [h for p in pools[1:] if p.count for h in p.hosts]:
        if host not in out:
            out.append(host)
    return out


def build(settings: Settings, stack_name: str = "dev") -> dict[str, pulumi.Output]:
    """Create every resource for ``settings`` (already validated); returns the stack outputs."""
    hosts = all_hosts(settings)
    providers = [docker.Provider(f"docker-{i}", host=h) for i, h in enumerate(hosts)]
    storages = [Storage(f"storage-{i}", settings.storageVolume, p) for i, p in enumerate(providers)]
    registry = Registry("trainyard-registry", settings.registryImage, settings.registry_bind, settings.registryPort,
                        providers[0])
    if settings.clientPublicKey:
        client_public, client_private = pulumi.Output.from_input(settings.clientPublicKey), None
    else:
        client_key = tls.PrivateKey("client-key", algorithm="ED25519")
        client_public = client_key.public_key_openssh
        client_private = pulumi.Output.secret(client_key.private_key_openssh)
    pools: dict[str, pulumi.Output] = {}
    components: dict[str, NodePool] = {}
    images: dict[str, NodeImage] = {}
    plan = plan_nodes(settings)
    for pool in settings.pool_specs():
        if not plan[pool.name]:
            continue
        if pool.image not in images:  # one image per base image, built once, named after its first pool
            images[pool.image] = NodeImage(f"{pool.name}-node", registry.url, pool.image, settings.nodeImageTag,
                                           pool.base_image, settings.sshUser, providers[0],
                                           depends_on=[registry.container])
        components[pool.name] = NodePool(pool.name, plan[pool.name], images[pool.image].ref, pool.limits,
                                         settings.bindAddress, [s.name for s in storages], client_public,
                                         settings.sshUser, providers)
        pools[pool.name] = components[pool.name].nodes
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
