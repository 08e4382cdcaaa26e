"""The infra stack's outputs as a workspace config (pure but for the client key file): what
``trainyard workspace import-stack`` and ``ComputeTarget.create`` both write."""

from __future__ import annotations

import json
from pathlib import Path

from trainers._atomic import write_bytes_atomic

from .errors import WorkspaceError


def render_stack_config(outputs: dict, key_dir: Path) -> dict:
    """The ``workspace`` output as a config; the client private key (if any) goes to ``key_dir`` (mode
    0600) and every node refers to it by path."""
    if not isinstance(outputs.get("workspace"), dict):
        raise WorkspaceError("the stack outputs have no 'workspace' object; is this a Trainyard stack?")
    config = json.loads(json.dumps(outputs["workspace"]))
    private = outputs.get("clientPrivateKey")
    if private:
        if "PRIVATE KEY" not in private:
            raise WorkspaceError("clientPrivateKey is not an OpenSSH private key (was --show-secrets given?)")
        key_path = key_dir / f"{config.get('name', 'stack')}_ed25519"
        write_bytes_atomic(key_path, private.encode(), mode=0o600)
        for compute in config.get("computes", {}).values():
            for node in compute.get("nodes", []):
                node.setdefault("identity_file", str(key_path.resolve()))
    return config
