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
    click.echo("computes: " + ", ".join(f"{n} ({t})" for n, t in details["computes"].items()))
