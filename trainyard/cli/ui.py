from __future__ import annotations

import click

from ._render import load_workspace, progress


@click.command()
@click.option("--port", "-p", default=8642, show_default=True, type=click.IntRange(1, 65535))
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind; anything but loopback requires the token printed in the URL.")
@click.option("--open", "open_browser", is_flag=True, help="Open the dashboard in the default browser.")
@click.pass_context
def ui(ctx: click.Context, port: int, host: str, open_browser: bool) -> None:
    """Serve the web dashboard of this workspace: runs, compare, models, datasets, computes, services."""
    from ..ui.server import serve  # start-up time: Starlette loads only for this command

    serve(load_workspace(ctx), host, port, open_browser, say=progress)
