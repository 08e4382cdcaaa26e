"""The ``trainyard`` command line: click groups of short verbs, each parse → one library call → render.

Results go to stdout, progress and diagnostics to stderr. Exit codes: 0 success, 1 error, 2 usage, the
job's own exit code when a run fails, 130 on Ctrl-C (the run keeps going).
"""

from __future__ import annotations

import importlib
import sys

import click

from trainers.objects import NodeError

from ..errors import TrainyardError

# each command lives in trainyard.cli.<command>, imported only when it runs (or help lists them all)
COMMANDS = ("workspace", "compute", "scaffold", "submit", "runs", "models", "datasets", "environments", "ui")


class TrainyardGroup(click.Group):
    """Loads a command's module when it is used; turns library errors into one-paragraph messages
    (tracebacks only with --debug)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        return getattr(importlib.import_module(f".{name}", __name__), name)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (TrainyardError, NodeError) as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)


@click.group(cls=TrainyardGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--workspace", "-w", "workspace_path", envvar="TRAINYARD_WORKSPACE", metavar="PATH",
              help="Workspace config file or directory (default: .trainyard/config.json here or above, "
                   "else the embedded default in ./.trainyard).")
@click.option("--debug", is_flag=True, help="Show tracebacks.")
@click.version_option(package_name="trainyard")
@click.pass_context
def cli(ctx: click.Context, workspace_path: str | None, debug: bool) -> None:
    """Trainyard: train, track and register models on machines you own."""
    ctx.ensure_object(dict)
    ctx.obj.update(workspace_path=workspace_path, debug=debug)
    from ..transport.holder import enable_holders  # start-up time: `--help` must not load the transport

    enable_holders()  # later CLI processes reuse this one's SSH connections (see transport/holder.py)


def main(argv: list[str] | None = None) -> None:
    cli.main(args=argv, prog_name="trainyard")
