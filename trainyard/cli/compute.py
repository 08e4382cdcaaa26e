from __future__ import annotations

import click

from ._render import echo_json, echo_table, load_workspace


@click.group()
def compute() -> None:
    """List and describe compute targets."""


@compute.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def list_(ctx: click.Context, as_json: bool) -> None:
    """List the workspace's computes."""
    targets = [t.get_status() for t in load_workspace(ctx).compute_targets.values()]
    if as_json:
        echo_json(targets)
        return
    echo_table([[t["name"], t["type"], len(t.get("nodes", [])) or 1] for t in targets],
               ["NAME", "TYPE", "NODES"])
