"""The stack driven from Python (Pulumi Automation API): what ``ComputeTarget.create`` / ``delete`` call.

One stack per workspace and compute (``<workspace>-<compute>``), running this package's own program inline.
This is the one module that talks to the Automation API; ``trainyard.provisioning`` translates its errors.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

PROJECT = "trainyard"


def program(stack_name: str) -> Callable[[], None]:
    """The inline program: the same ``build`` that ``infra/__main__.py`` runs, with its outputs exported."""

    def run() -> None:
        import pulumi

        from .settings import load_settings
        from .stack import build

        for name, value in build(load_settings(), stack_name).items():
            pulumi.export(name, value)

    return run


def render_config(settings: dict[str, Any]) -> dict[str, str]:
    """Stack config as the CLI stores it: ``trainyard:KEY`` → string (JSON for lists and dicts) (pure)."""
    return {f"{PROJECT}:{k}": v if isinstance(v, str) else json.dumps(v) for k, v in settings.items()}


def up_stack(stack_name: str, settings: dict[str, Any], on_output: Callable[[str], None] | None = None) -> dict:
    """Create or update the stack with ``settings``; returns its outputs as plain values."""
    from pulumi import automation as auto

    stack = auto.create_or_select_stack(stack_name=stack_name, project_name=PROJECT, program=program(stack_name))
    stack.set_all_config({k: auto.ConfigValue(v) for k, v in render_config(settings).items()})
    result = stack.up(on_output=on_output)
    return {k: v.value for k, v in result.outputs.items()}


def destroy_stack(stack_name: str, on_output: Callable[[str], None] | None = None) -> None:
    """Destroy the stack's resources and remove the stack."""
    from pulumi import automation as auto

    stack = auto.select_stack(stack_name=stack_name, project_name=PROJECT, program=program(stack_name))
    stack.destroy(on_output=on_output)
    stack.workspace.remove_stack(stack_name)
