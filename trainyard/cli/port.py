from __future__ import annotations

import sys
from collections import Counter

import click

from ..port import find_sources, port_file, write_port
from ._render import echo_json


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--dry-run", is_flag=True, help="Show the changes as a diff; write nothing.")
@click.option("--check", is_flag=True, help="Write nothing; exit 1 when a file would change.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable changes and report.")
def port(paths: tuple[str, ...], dry_run: bool, check: bool, as_json: bool) -> None:
    """Rename azureml imports to trainyard in .py files and notebook code cells under PATHS, and report every
    v1 API the code uses that Trainyard does not support (file and line). Training scripts (they call
    Run.get_context()) are left unchanged: nodes run them with an azureml shim."""
    results = [port_file(p) for p in find_sources(list(paths))]
    changed = [r for r in results if r.changed]
    findings = [f for r in results for f in r.findings]
    if not (dry_run or check):
        for r in changed:
            write_port(r)
    if as_json:
        echo_json({"changed": [r.path for r in changed], "written": not (dry_run or check),
                   "job_scripts": [r.path for r in results if r.job_script],
                   "unsupported": [vars(f) for f in findings]})
    else:
        if dry_run:
            for r in changed:
                click.echo(r.render_diff(), nl=False)
        verb = "would change" if dry_run or check else "changed"
        for r in results:
            state = verb if r.changed else ("training script, left unchanged" if r.job_script else "unchanged")
            click.echo(f"{r.path}: {state}", err=True)
        click.echo(f"{len(changed)} of {len(results)} files {verb}; {len(findings)} unsupported v1 API uses"
                   + (":" if findings else ""))
        for f in findings:
            click.echo(f"  {f.render()}")
        counts = Counter(f.api for f in findings)
        if counts:
            click.echo("by API: " + ", ".join(f"{api} ×{n}" for api, n in counts.most_common()))
    if check and changed:
        sys.exit(1)
