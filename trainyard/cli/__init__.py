"""The ``trainyard`` command line: click groups of short verbs, each parse → one library call → render.

Results go to stdout, progress and diagnostics to stderr. Exit codes: 0 success, 1 error, 2 usage, 3 the run
failed, 4 the run was canceled, 130 on Ctrl-C (the run keeps going), 143 on SIGTERM.
"""

from __future__ import annotations

import importlib
import signal
import sys
import warnings

import click

from trainers.objects import NodeError

from ..errors import TrainyardError, UnreadableRecordWarning, describe_os_error

# each command lives in trainyard.cli.<command>, imported only when it runs (or help lists them all)
EXIT_ERROR = 1  # a Trainyard error (bad input, unreachable node, …); 2 is click's usage error
EXIT_RUN_FAILED = 3  # the run failed (the job's own exit code is in the message and `--json`)
EXIT_RUN_CANCELED = 4
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 128 + signal.SIGTERM

COMMANDS = ("workspace", "compute", "scaffold", "submit", "runs", "models", "datasets", "environments", "services",
            "ui", "gc", "check", "sweeps", "port")


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
        except (TrainyardError, NodeError, OSError) as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.echo(f"error: {describe_os_error(exc) if isinstance(exc, OSError) else exc}", err=True)
            sys.exit(EXIT_ERROR)
        except (KeyboardInterrupt, click.Abort):  # click would print "Aborted!" and exit 1
            click.echo("\ninterrupted", err=True)
            sys.exit(EXIT_INTERRUPTED)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Library warnings about skipped records are diagnostics: one line on stderr."""
    if issubclass(category, UnreadableRecordWarning):
        click.echo(f"warning: {message}", err=True)
    else:
        _default_showwarning(message, category, filename, lineno, file, line)


_default_showwarning = warnings.showwarning


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
    from ..transport import sshconfig  # start-up time: `--help` must not load the transport
    from ..transport.holder import enable_holders  # start-up time: `--help` must not load the transport

    enable_holders()  # later CLI processes reuse this one's SSH connections (see transport/holder.py)
    if sys.stdin.isatty():  # a passphrase-protected SSH key may be unlocked here; otherwise ssh-agent
        sshconfig.PASSPHRASE_PROMPT = lambda path: click.prompt(f"passphrase for {path}", hide_input=True,
                                                                err=True)
    warnings.simplefilter("always", UnreadableRecordWarning)
    warnings.showwarning = _show_warning


def _terminated(signum, frame) -> None:
    raise SystemExit(EXIT_TERMINATED)  # unwinds like Ctrl-C, so a submit records its run before exiting


def main(argv: list[str] | None = None) -> None:
    signal.signal(signal.SIGTERM, _terminated)
    cli.main(args=argv, prog_name="trainyard")
