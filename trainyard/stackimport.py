"""``trainyard workspace import-stack``: the infra stack's outputs become the workspace config.

The stack's ``workspace`` output already has the config schema; the generated client private key (a
secret output) is written to a file with mode 0600 and referenced by path, never inlined.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from .errors import WorkspaceError
from .stackconfig import render_stack_config
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
    path = Path(config_path) if config_path else Path(directory) / CONFIG_DIR / CONFIG_NAME
    config = render_stack_config(outputs, path.parent / "keys")
    parse_config(config, "stack outputs")
    write_config(path, config)
    return path
