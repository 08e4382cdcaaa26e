from __future__ import annotations

import click

from ..environment import Environment
from ._complete import complete_environment
from ._render import echo_json, echo_table, load_workspace


@click.group()
def environments() -> None:
    """Registered and curated (AzureML-…) environments: list, show, register."""


@environments.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def list_(ctx: click.Context, as_json: bool) -> None:
    """List registered environments (latest version of each), then the curated AzureML-… names."""
    envs = Environment.list(load_workspace(ctx))
    if as_json:
        echo_json([e.to_dict() for e in envs.values()])
        return
    echo_table([[e.name, e.version, e.compute_hash()[:12], len(e.compute_spec().get("requirements") or [])]
                for e in envs.values()], ["NAME", "VERSION", "HASH", "PACKAGES"])


@environments.command("show")
@click.argument("ref", metavar="NAME[:VERSION|@latest]", shell_complete=complete_environment)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def show(ctx: click.Context, ref: str, as_json: bool) -> None:
    """Show an environment's canonical spec and hash."""
    env = Environment.get(load_workspace(ctx), ref)
    data = {**env.to_dict(), "spec": env.compute_spec()}
    if as_json:
        echo_json(data)
        return
    click.echo(f"environment: {env.name}:{env.version}\nhash:        {data['hash']}")
    spec = data["spec"]
    click.echo(f"python:      {spec.get('python') or '(node default)'}")
    for req in spec.get("requirements") or []:
        click.echo(f"  {req}")


@environments.command("register")
@click.argument("name")
@click.option("--conda-file", type=click.Path(exists=True, dir_okay=False), help="A conda environment.yml.")
@click.option("--requirements", type=click.Path(exists=True, dir_okay=False), help="A requirements.txt.")
@click.pass_context
def register(ctx: click.Context, name: str, conda_file: str | None, requirements: str | None) -> None:
    """Register NAME from a conda file or a requirements file (a new version only if the content changed)."""
    if bool(conda_file) == bool(requirements):
        raise click.UsageError("give exactly one of --conda-file or --requirements")
    env = (Environment.from_conda_specification(name, conda_file) if conda_file
           else Environment.from_pip_requirements(name, requirements))
    env = env.register(load_workspace(ctx))
    click.echo(f"{env.name}:{env.version}")
