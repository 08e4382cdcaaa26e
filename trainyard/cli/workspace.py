from __future__ import annotations

import click

from ..workspace import Workspace
from ._render import echo_json, load_workspace


@click.group()
def workspace() -> None:
    """Create and describe the workspace."""


@workspace.command("init")
@click.option("--name", default="default", show_default=True, help="Workspace name.")
@click.option("--directory", "-d", default=".", type=click.Path(file_okay=False), help="Where to create it.")
@click.option("--force", is_flag=True, help="Overwrite an existing config.")
def init(name: str, directory: str, force: bool) -> None:
    """Write .trainyard/config.json (a local store and the `local` compute)."""
    ws = Workspace.init(directory, name=name, force=force)
    click.echo(f"created {ws.config_path} (store: {ws.root})")


@workspace.command("show")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def show(ctx: click.Context, as_json: bool) -> None:
    """Show the workspace in use: name, store, config file, computes."""
    details = load_workspace(ctx).get_details()
    if as_json:
        echo_json(details)
        return
    click.echo(f"name:     {details['name']}")
    click.echo(f"store:    {details['root']}")
    click.echo(f"config:   {details['config'] or '(none: embedded default)'}")
    click.echo("computes: " + ", ".join(f"{n} ({c['type']}" + (f", {c['nodes']} nodes)" if c["nodes"] else ")")
                                        for n, c in details["computes"].items()))


@workspace.command("import-stack")
@click.option("--stack", "-s", help="Pulumi stack to read (default: the selected stack).")
@click.option("--file", "-f", "file_", type=click.Path(exists=True, dir_okay=False),
              help="Saved `pulumi stack output --json --show-secrets` instead of running pulumi.")
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Config path (default .trainyard/config.json).")
def import_stack_cmd(stack: str | None, file_: str | None, output: str | None) -> None:
    """Write the workspace config from the infra stack's outputs (pools, nodes, pinned host keys)."""
    from ..stackimport import fetch_stack_outputs, import_stack, load_stack_outputs  # start-up time

    outputs = load_stack_outputs(file_) if file_ else fetch_stack_outputs(stack)
    path = import_stack(outputs, config_path=output)
    ws = Workspace.from_config(path)
    pools = {n: c["nodes"] for n, c in ws.get_details()["computes"].items() if n != "local"}
    click.echo(f"wrote {path}: " + ", ".join(f"{n} ({k} nodes)" for n, k in pools.items()))
