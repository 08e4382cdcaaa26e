from __future__ import annotations

import click

from ..scaffold import list_templates, render_template
from ._complete import complete_template
from ._render import echo_json, parse_pairs


@click.command()
@click.argument("name", required=False, shell_complete=complete_template)
@click.option("--output", "-o", type=click.Path(), help="Target directory (default: ./NAME).")
@click.option("--set", "assignments", multiple=True, metavar="KEY=VALUE", help="Set a template variable.")
@click.option("--force", is_flag=True, help="Render into a non-empty directory.")
@click.option("--dry-run", is_flag=True, help="Show what would be written; write nothing.")
@click.option("--list", "list_only", is_flag=True, help="List templates with their variables.")
@click.option("--json", "as_json", is_flag=True, help="With --list: machine-readable output.")
def scaffold(name: str | None, output: str | None, assignments: tuple[str, ...], force: bool,
             dry_run: bool, list_only: bool, as_json: bool) -> None:
    """Render a training project (code, environment, job.yml, README) from a template."""
    if list_only and as_json:
        echo_json([{"name": t.name, "description": t.description,
                    "variables": [{"name": v.name, "type": v.type, "default": v.default, "choices": v.choices,
                                   "help": v.help} for v in t.variables.values()]} for t in list_templates()])
        return
    if list_only or not name:
        for t in list_templates():
            click.echo(f"{t.name}: {t.description}")
            for v in t.variables.values():
                choices = f" (one of {', '.join(map(str, v.choices))})" if v.choices else ""
                click.echo(f"    {v.name} [{v.type}, default {v.default!r}]{choices}: {v.help}")
        if not list_only:
            raise click.UsageError("give a template NAME (listed above)")
        return
    result = render_template(name, output, parse_pairs(assignments, "--set"), force=force, dry_run=dry_run)
    verb = "would write" if dry_run else "wrote"
    for path in result.files:
        click.echo(f"{verb} {path}", err=True)
    click.echo(str(result.output))
    if result.message and not dry_run:
        click.echo(result.message.strip(), err=True)
