"""The node image, built from ``infra/node/Dockerfile`` and pushed to the workspace registry.

Uses ``docker.Image`` from pulumi-docker (one provider for images and containers, so remote Docker hosts
need nothing else) rather than the separate pulumi-docker-build provider.
"""

from __future__ import annotations

from pathlib import Path

import pulumi
import pulumi_docker as docker

NODE_CONTEXT = Path(__file__).resolve().parent.parent / "node"


class NodeImage(pulumi.ComponentResource):
    def __init__(self, name: str, registry_url: pulumi.Input[str], image: str, tag: str, base_image: str,
                 ssh_user: str, provider: pulumi.ProviderResource | None = None,
                 depends_on: list[pulumi.Resource] | None = None, opts: pulumi.ResourceOptions | None = None):
        super().__init__("trainyard:infra:NodeImage", name, None, opts)
        self.image = docker.Image(
            f"{name}-image",
            image_name=pulumi.Output.concat(registry_url, "/", image, ":", tag),
            build=docker.DockerBuildArgs(context=str(NODE_CONTEXT), dockerfile=str(NODE_CONTEXT / "Dockerfile"),
                                         args={"BASE_IMAGE": base_image, "SSH_USER": ssh_user},
                                         platform="linux/amd64"),
            registry=docker.RegistryArgs(server=registry_url),
            opts=pulumi.ResourceOptions(parent=self, provider=provider, depends_on=depends_on or []))
        # containers run the pushed image by digest, never a moving tag
        self.ref = self.image.repo_digest
        self.register_outputs({"ref": self.ref})
