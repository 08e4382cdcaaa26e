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
    return parse_stack_outputs(out.stdout, "`pulumi stack output`")


def load_stack_outputs(path: str | Path) -> dict:
    """Stack outputs saved with ``pulumi stack output --json --show-secrets > FILE``."""
    return parse_stack_outputs(Path(path).read_bytes(), str(path))


def parse_stack_outputs(text: str | bytes, source: str) -> dict:
    """The JSON object of stack outputs, or a WorkspaceError saying what ``source`` holds instead."""
    try:
        outputs = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise WorkspaceError(f"{source} is not JSON ({str(exc)[:80]}); save the outputs with `pulumi stack "
                             "output --json --show-secrets > outputs.json`") from None
    if not isinstance(outputs, dict):
        raise WorkspaceError(f"{source} holds a JSON {type(outputs).__name__}, not the stack's outputs object")
    return outputs


def import_stack(outputs: dict, directory: str | Path = ".", config_path: str | Path | None = None) -> Path:
    """Write the workspace config (and the client key file) from stack outputs; returns the config path."""
    path = Path(config_path) if config_path else Path(directory) / CONFIG_DIR / CONFIG_NAME
    config = render_stack_config(outputs, path.parent / "keys")
    parse_config(config, "stack outputs")
    write_config(path, config)
    return path
