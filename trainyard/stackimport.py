"""``trainyard workspace import-stack``: the infra stack's outputs become the workspace config.

The stack's ``workspace`` output already has the config schema; the generated client private key (a
secret output) is written to a file with mode 0600 and referenced by path, never inlined.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from trainers._atomic import write_bytes_atomic

from .errors import WorkspaceError
from .workspace import CONFIG_DIR, CONFIG_NAME, parse_config, write_config


def fetch_stack_outputs(stack: str | None = None) -> dict:
    """``pulumi stack output --json --show-secrets`` for ``stack``."""
    pulumi = shutil.which("pulumi")
    if pulumi is None:
        raise WorkspaceError("the pulumi CLI is not on PATH; on a machine that has it run `pulumi stack output "
                             "--json --show-secrets > outputs.json` and pass --file outputs.json")
    argv = [pulumi, "stack", "output", "--json", "--show-secrets", *(["--stack", stack] if stack else [])]
    out = subprocess.run(argv, capture_output=True, text=True)
    if out.returncode != 0:
        raise WorkspaceError(f"`{' '.join(argv[1:])}` failed: {out.stderr.strip()[-500:]}")
    return json.loads(out.stdout)


def import_stack(outputs: dict, directory: str | Path = ".", config_path: str | Path | None = None) -> Path:
    """Write the workspace config (and the client key file) from stack outputs; returns the config path."""
    if not isinstance(outputs.get("workspace"), dict):
        raise WorkspaceError("the stack outputs have no 'workspace' object; is this a Trainyard stack?")
    config = json.loads(json.dumps(outputs["workspace"]))
    path = Path(config_path) if config_path else Path(directory) / CONFIG_DIR / CONFIG_NAME
    private = outputs.get("clientPrivateKey")
    if private:
        if "PRIVATE KEY" not in private:
            raise WorkspaceError("clientPrivateKey is not an OpenSSH private key (was --show-secrets given?)")
        key_path = path.parent / "keys" / f"{config.get('name', 'stack')}_ed25519"
        write_bytes_atomic(key_path, private.encode(), mode=0o600)
        for compute in config.get("computes", {}).values():
            for node in compute.get("nodes", []):
                node.setdefault("identity_file", str(key_path.resolve()))
    parse_config(config, "stack outputs")
    write_config(path, config)
    return path
