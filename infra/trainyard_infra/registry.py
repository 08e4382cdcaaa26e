"""The workspace container registry: ``registry:2`` with its own volume, published on the bind address."""

from __future__ import annotations

import pulumi
import pulumi_docker as docker


class Registry(pulumi.ComponentResource):
    def __init__(self, name: str, image: str, bind_address: str, port: int,
                 provider: pulumi.ProviderResource | None = None, opts: pulumi.ResourceOptions | None = None):
        super().__init__("trainyard:infra:Registry", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        self.volume = docker.Volume(f"{name}-data", name=f"{name}-data",
                                    opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(
                                        retain_on_delete=True)))
        self.container = docker.Container(
            f"{name}-container", name=name, image=image, restart="unless-stopped",
            ports=[docker.ContainerPortArgs(internal=5000, external=port, ip=bind_address)],
            volumes=[docker.ContainerVolumeArgs(volume_name=self.volume.name, container_path="/var/lib/registry")],
            labels=[docker.ContainerLabelArgs(label="trainyard.role", value="registry")],
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(delete_before_replace=True)))
        host = "127.0.0.1" if bind_address == "0.0.0.0" else bind_address
        self.url = pulumi.Output.from_input(f"{host}:{port}")
        self.register_outputs({"url": self.url})
