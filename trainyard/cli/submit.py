from __future__ import annotations

import sys

import click

from ..jobspec import check_experiment_name
from ..run import Experiment, Run
from ..submission import submit as submit_job
from ..sweepjob import parse_job_or_sweep_file
from ._complete import complete_compute
from ._render import echo_json, load_workspace, make_progress, parse_pairs
from .runs import follow


@click.command()
@click.argument("job_yml", type=click.Path(dir_okay=False))
@click.option("--compute", "-c", shell_complete=complete_compute, help="Compute to run on (overrides the job's `compute`).")
@click.option("--set", "assignments", multiple=True, metavar="inputs.NAME=VALUE",
              help="Override an input; repeatable.")
@click.option("--experiment", "-e", help="Experiment name (overrides `experiment_name`).")
@click.option("--tag", "tags", multiple=True, metavar="KEY=VALUE", help="Tag the run; repeatable.")
@click.option("--detach", "-d", is_flag=True, help="Return once the run has started.")
@click.option("--current-env", is_flag=True,
              help="Run in the node's current interpreter instead of building the job's environment.")
@click.option("--json", "as_json", is_flag=True, help="Print the run's details as JSON when done.")
@click.pass_context
def submit(ctx: click.Context, job_yml: str, compute: str | None, assignments: tuple[str, ...],
           experiment: str | None, tags: tuple[str, ...], detach: bool, current_env: bool,
           as_json: bool) -> None:
    """Submit JOB_YML, stream its logs, collect outputs, register its model.

    A sweep job (`type: sweep`) starts a HyperDrive sweep and follows its children as they end.
    Exits 0 only when the run completes. Ctrl-C stops following; the run keeps going.
    """
    job = parse_job_or_sweep_file(job_yml)
    spec = getattr(job, "run_config", job)  # a sweep's trial, or the command job itself
    job.apply_overrides(list(assignments))
    if compute:
        spec.compute = compute
    if experiment:
        spec.experiment_name = check_experiment_name(experiment)
    ws = load_workspace(ctx)
    click.echo(f"workspace {ws.name}: store {ws.root}" + (f" (config {ws.config_path})" if ws.config_path else ""),
               err=True)
    progress = make_progress()
    if job is not spec:  # a sweep
        if current_env:
            spec.environment, spec.environment_ref = None, None
        run = Experiment(ws, spec.experiment_name).submit(job, tags=parse_pairs(tags, "--tag"), progress=progress)
    else:
        run = Run(ws, submit_job(ws, spec, tags=parse_pairs(tags, "--tag"), progress=progress,
                                 use_current_env=current_env))
    click.echo(f"submitted run {run.id} to {spec.compute}", err=True)
    if detach:
        if as_json:
            echo_json({"runId": run.id, "status": run.status})
        else:
            click.echo(run.id)
        return
    sys.exit(follow(run, as_json))
