from __future__ import annotations

import tempfile
from pathlib import Path

import click

from ..dataset import Dataset
from ..preview import render_preview
from ._complete import complete_dataset
from ._render import echo_json, echo_table, fmt_time, load_workspace, make_progress, parse_pairs


def _get(ctx: click.Context, ref: str):
    return Dataset.get_by_name(load_workspace(ctx), ref)


def _summary(ds) -> dict:
    return {**ds._record, "id": ds.id}


@click.group()
def datasets() -> None:
    """Datasets: register files, folders, globs or URLs; list, show, download, preview."""


@datasets.command("register")
@click.argument("name")
@click.argument("sources", nargs=-1, required=True)
@click.option("--description")
@click.option("--tag", "tags", multiple=True, metavar="KEY=VALUE")
@click.option("--create-new-version", is_flag=True, help="Add a version when NAME exists with other content.")
@click.option("--json", "as_json", is_flag=True, help="Print the registered dataset as JSON.")
@click.pass_context
def register(ctx: click.Context, name: str, sources: tuple[str, ...], description: str | None,
             tags: tuple[str, ...], create_new_version: bool, as_json: bool) -> None:
    """Register SOURCES (paths, globs, http(s) URLs; `URL#md5=…` pins a checksum) as dataset NAME."""
    ds = Dataset.File.from_files(list(sources)).register(
        load_workspace(ctx), name, description, parse_pairs(tags, "--tag"), create_new_version, make_progress())
    if as_json:
        echo_json(_summary(ds))
        return
    click.echo(f"{ds.id} ({ds._record['files']} files, {ds._record['bytes'] / 1e6:.1f} MB)")


@datasets.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def list_(ctx: click.Context, as_json: bool) -> None:
    """List datasets (latest version of each)."""
    found = Dataset.list(load_workspace(ctx))
    if as_json:
        echo_json([_summary(d) for d in found])
        return
    echo_table([[d.id, d._record["files"], f"{d._record['bytes'] / 1e6:.1f} MB", fmt_time(d._record["created"])]
                for d in found], ["DATASET", "FILES", "SIZE", "REGISTERED"])


@datasets.command("show")
@click.argument("ref", metavar="NAME[:VERSION|@latest]", shell_complete=complete_dataset)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def show(ctx: click.Context, ref: str, as_json: bool) -> None:
    """Show a dataset version: sources, size, files."""
    ds = _get(ctx, ref)
    if as_json:
        echo_json({**_summary(ds), "paths": ds.to_path()})
        return
    click.echo(f"dataset:  {ds.id}\nsources:  {', '.join(ds.sources)}\nfiles:    {ds._record['files']} "
               f"({ds._record['bytes'] / 1e6:.1f} MB)\nmanifest: {ds._record['manifest']}")
    for path in ds.to_path()[:50]:
        click.echo(f"  {path}")


@datasets.command("download")
@click.argument("ref", metavar="NAME[:VERSION|@latest]", shell_complete=complete_dataset)
@click.option("--output", "-o", default=".", type=click.Path(file_okay=False), help="Target directory.")
@click.option("--force", is_flag=True, help="Replace existing files.")
@click.pass_context
def download(ctx: click.Context, ref: str, output: str, force: bool) -> None:
    """Copy a dataset's files out (sha256-verified)."""
    for path in _get(ctx, ref).download(output, force, make_progress()):
        click.echo(path)


@datasets.command("preview")
@click.argument("ref", metavar="NAME[:VERSION|@latest]", shell_complete=complete_dataset)
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False), help="PNG to write.")
@click.option("-n", "count", default=30, show_default=True, help="How many images.")
@click.option("--seed", default=0, show_default=True)
@click.pass_context
def preview(ctx: click.Context, ref: str, output: str, count: int, seed: int) -> None:
    """Draw a grid of random images with their labels (MNIST or CIFAR-10 format)."""
    ds = _get(ctx, ref)
    with tempfile.TemporaryDirectory() as tmp:
        ds.download(tmp)
        render_preview(Path(tmp), Path(output), count, seed, f"{ds.id}: {count} random test images")
    click.echo(output)
