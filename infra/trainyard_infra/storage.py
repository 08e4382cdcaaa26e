"""The storage volume: the node roots (blob cache, environments, runs) and shared data, per Docker host."""

from __future__ import annotations

import pulumi
import pulumi_docker as docker


def storage_options(parent: pulumi.Resource, provider: pulumi.ProviderResource | None) -> pulumi.ResourceOptions:
    """A replaced or deleted volume loses data: protect it, and keep it if the stack is destroyed."""
    return pulumi.ResourceOptions(parent=parent, provider=provider, protect=True, retain_on_delete=True)


class Storage(pulumi.ComponentResource):
    def __init__(self, name: str, volume_name: str, provider: pulumi.ProviderResource | None = None,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__("trainyard:infra:Storage", name, None, opts)
        self.volume = docker.Volume(f"{name}-volume", name=volume_name,
                                    labels=[docker.VolumeLabelArgs(label="trainyard.role", value="storage")],
                                    opts=storage_options(self, provider))
        self.name = self.volume.name
        self.register_outputs({"name": self.name})
