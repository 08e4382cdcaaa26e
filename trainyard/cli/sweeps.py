from __future__ import annotations

from pathlib import Path

import click

from ..errors import RunError
from ..metrics import load_records
from ..run import Run
from ..sweep import primary_series
from ..sweepplot import plot_sweep
from ._render import echo_json, load_workspace
from .runs import render_children


@click.group()
def sweeps() -> None:
    """HyperDrive sweeps: `trainyard submit sweep.yml` starts one; `runs attach/show/cancel` work on its parent."""


def _sweep(ctx: click.Context, run_id: str):
    run = Run(load_workspace(ctx), run_id)
    if run.record.get("type") != "hyperdrive":
        raise RunError(f"{run_id} is not a sweep (its parent, if it has one: "
                       f"{run.record.get('parent') or 'none'}); pass the sweep's parent run id", run_id)
    return run


@sweeps.command("plot")
@click.argument("parent_run_id")
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False), help="PNG to write.")
@click.pass_context
def plot(ctx: click.Context, parent_run_id: str, output: str) -> None:
    """Draw the primary metric of each child over its intervals, and hyperparameters against the metric."""
    run = _sweep(ctx, parent_run_id)
    metric = run.hyperdrive_settings["primary_metric_name"]
    rows = run.get_children_sorted_by_primary_metric()
    series = {r["run_id"]: primary_series(load_records(Run(run.workspace, r["run_id"]).run_dir / "metrics.jsonl"),
                                          metric) for r in rows}
    plot_sweep(rows, series, metric, Path(output), f"{run.id} ({run.status})")
    click.echo(f"wrote {output}", err=True)


@sweeps.command("children")
@click.argument("parent_run_id")
@click.option("--top", "-n", default=0, help="Only the best N (0: all).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def children(ctx: click.Context, parent_run_id: str, top: int, as_json: bool) -> None:
    """The sweep's children sorted by the primary metric, best first."""
    run = _sweep(ctx, parent_run_id)
    rows = run.get_children_sorted_by_primary_metric(top=top)
    if as_json:
        echo_json(rows)
    else:
        render_children(run, {"children": rows, "hyperdrive": run.hyperdrive_settings})
