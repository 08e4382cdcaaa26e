"""Pulumi mock engine fixtures: a fresh event loop per test, real ed25519 keys from the tls mock."""

from __future__ import annotations

import asyncio

import pulumi  # the `infra` extra, which `make test` installs: missing is an error, not a skip
import pytest


class Mocks(pulumi.runtime.Mocks):
    """Records every resource; fills the computed outputs the program reads."""

    def __init__(self):
        self.resources: list[dict] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        outputs = dict(args.inputs)
        if args.typ == "tls:index/privateKey:PrivateKey":
            from cryptography.hazmat.primitives import serialization
            from cryptography.hazmat.primitives.asymmetric import ed25519

            key = ed25519.Ed25519PrivateKey.generate()
            outputs["privateKeyOpenssh"] = key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                serialization.NoEncryption()).decode()
            outputs["publicKeyOpenssh"] = key.public_key().public_bytes(
                serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode() + "\n"
        elif args.typ == "docker:index/image:Image":
            outputs["repoDigest"] = f"{args.inputs['imageName'].rsplit(':', 1)[0]}@sha256:{'a' * 64}"
        outputs.setdefault("name", args.inputs.get("name", args.name))
        self.resources.append({"type": args.typ, "name": args.name, "inputs": dict(args.inputs)})
        return f"{args.name}-id", outputs

    def call(self, args: pulumi.runtime.MockCallArgs):
        return {}

    def of_type(self, typ: str) -> list[dict]:
        return [r for r in self.resources if r["type"] == typ]


@pytest.fixture
def mocks():
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    m = Mocks()
    pulumi.runtime.set_mocks(m, project="trainyard", stack="test", preview=False)
    yield m, loop
    loop.close()
    asyncio.set_event_loop(None)
