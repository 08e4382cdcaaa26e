from __future__ import annotations

import sys

import click

from ..check import MIN_AGE, check_store, repair
from ._render import echo_json, echo_table, load_workspace, printable


@click.command()
@click.option("--repair", "do_repair", is_flag=True,
              help="Remove what is provably garbage: corrupt objects, secrets, old temp files and orphan versions.")
@click.option("--min-age", default=MIN_AGE, show_default=True, type=float, metavar="SECONDS",
              help="Temp files and unfinished versions younger than this are kept (a writer may be at work).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def check(ctx: click.Context, do_repair: bool, min_age: float, as_json: bool) -> None:
    """Verify the workspace store: object hashes, records, manifests, orphans, temp files, secrets.

    Exits 0 when nothing is wrong (or everything wrong was repaired), 1 otherwise."""
    ws = load_workspace(ctx)
    click.echo(f"checking the store at {ws.root} …", err=True)
    findings = check_store(ws.root, min_age)
    removed = repair(ws.root, findings) if do_repair else []
    remaining = [f for f in findings if f not in removed]
    if as_json:
        echo_json({"root": str(ws.root), "findings": [f.to_dict() for f in remaining],
                   "removed": [f.to_dict() for f in removed]})
    else:
        if remaining:
            echo_table([[f.kind, printable(f.path), f.detail, "yes" if f.garbage else "no"] for f in remaining],
                       ["PROBLEM", "PATH", "DETAIL", "GARBAGE"])
        for f in removed:
            click.echo(f"removed {f.kind} {printable(f.path)}", err=True)
        hint = "; `trainyard check --repair` removes those marked garbage" if any(
            f.garbage for f in remaining) else ""
        click.echo(f"{len(remaining)} problem(s), {len(removed)} removed{hint}", err=True)
    sys.exit(1 if remaining else 0)
