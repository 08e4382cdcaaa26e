from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from trainers.status import CANCELED, COMPLETED, STATUSES, is_terminal

from ..errors import RunError
from ..metrics import compute_series, load_records, plot_series
from ..run import POLL_WAIT, STREAMED_LOGS, Run
from ..runstore import RunStore
from . import EXIT_ERROR, EXIT_RUN_CANCELED, EXIT_RUN_FAILED
from ._complete import complete_run_id
from ._render import echo_json, echo_table, fmt_duration, fmt_time, fmt_value, load_workspace, make_progress


def full_details(run: Run) -> dict:
    """What `runs show --json` and `submit --json` print: details, metrics and file names."""
    return {**run.get_details(), "metrics": run.get_metrics(), "files": run.get_file_names()}


def exit_code_for(run: Run) -> int:
    """0 when completed (and any requested model registered); 3 when the run failed, 4 when it was
    canceled: codes of their own, so a job exiting 2 is not taken for a usage error (the job's own code
    is in the message and in `--json`'s exitCode)."""
    r = run.record
    if r["status"] == COMPLETED:
        return EXIT_ERROR if r.get("registration_error") else 0
    return EXIT_RUN_CANCELED if r["status"] == CANCELED else EXIT_RUN_FAILED


def follow(run: Run, as_json: bool = False) -> int:
    """Stream a run to stderr until it ends, print the result to stdout; returns the exit code."""
    try:
        run.wait_for_completion(show_output=True, raise_on_error=False, out=sys.stderr, progress=make_progress())
    except KeyboardInterrupt:
        click.echo(f"\nstopped following run {run.id}; it keeps running. Re-attach with:\n"
                   f"  trainyard runs attach {run.id}", err=True)
        return 130
    record = run.record
    if as_json:
        echo_json(full_details(run))
    else:
        render_result(run)
    if record["status"] != COMPLETED:
        click.echo(f"error: {run.render_failure()}", err=True)
    elif record.get("registration_error"):
        click.echo(f"error: {record['registration_error']}", err=True)
    return exit_code_for(run)


def render_result(run: Run) -> None:
    r = run.record
    click.echo(f"Run {run.id}: {r['status']} in {fmt_duration(r)}")
    metrics = run.get_metrics()
    if metrics:
        click.echo("Metrics:")
        width = max(len(k) for k in metrics)
        for name, value in metrics.items():
            click.echo(f"  {name.ljust(width)}  {fmt_value(value)}")
    if r.get("model_id"):
        click.echo(f"Registered model: {r['model_id']}")


@click.group()
def runs() -> None:
    """List, inspect, follow and cancel runs."""


def _get(ctx: click.Context, ref: str) -> Run:
    """The run RUN_ID names: an id, a unique prefix of one, or `latest`."""
    ws = load_workspace(ctx)
    return Run.get(ws, RunStore(ws.root).resolve(ref))


@runs.command("list")
@click.option("--experiment", "-e", help="Only this experiment.")
@click.option("--status", type=click.Choice(STATUSES, case_sensitive=False), help="Only runs in this status.")
@click.option("--limit", "-n", default=50, show_default=True, help="At most this many (newest first).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def list_(ctx: click.Context, experiment: str | None, status: str | None, limit: int, as_json: bool) -> None:
    """List runs, newest first (active runs are refreshed from their node)."""
    ws = load_workspace(ctx)
    store = RunStore(ws.root)
    records = []
    for r in store.iter_runs(experiment):  # newest first; stops reading once `limit` runs match
        if not is_terminal(r["status"]):
            Run(ws, r["run_id"]).refresh()
            r = store.load(r["run_id"])
        if status is None or r["status"] == status:
            records.append(r)
            if len(records) >= limit:
                break
    if as_json:
        echo_json(records)
        return
    echo_table([[r["run_id"], r["status"], r["compute"], fmt_time(r["created"]), fmt_duration(r),
                 r.get("model_id") or ""] for r in records],
               ["RUN ID", "STATUS", "COMPUTE", "CREATED", "DURATION", "MODEL"])


@runs.command("show")
@click.argument("run_id", shell_complete=complete_run_id)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def show(ctx: click.Context, run_id: str, as_json: bool) -> None:
    """Show a run: status and why, timings, environment, metrics, files, images, model."""
    run = _get(ctx, run_id)
    run.get_status()  # one sync step: finishes a pull the client missed
    details = full_details(run)
    if as_json:
        echo_json(details)
        return
    env = details.get("environment") or {}
    lines = [
        ("run", details["runId"]), ("status", details["status"] + (f" ({details['statusReason'].strip()})"
                                                                  if details.get("statusReason") else "")),
        ("compute", details["target"]), ("started", details["startTimeUtc"]), ("ended", details["endTimeUtc"]),
        ("command", details["command"]),
        ("environment", f"{env.get('name')} {str(env.get('hash', ''))[:12]}"),
        ("exit code", details.get("exitCode")), ("model", details.get("modelId")),
        ("tags", ", ".join(f"{k}={v}" for k, v in details["tags"].items()) or None),
        ("store", details["portalUrl"]),
    ]
    for k, v in lines:
        if v is not None:
            click.echo(f"{k + ':':13} {v}")
    for name, value in details["metrics"].items():
        click.echo(f"  metric {name}: {fmt_value(value)}")
    for name, path in details["images"].items():
        click.echo(f"  image {name}: {run.run_dir / path if isinstance(path, str) else path}")
    for f in details["files"]:
        click.echo(f"  file {f}")
    for rej in details["rejectedOutputs"]:
        click.echo(f"  rejected {rej['path']}: {rej['reason']}")
    if details.get("registrationError"):
        click.echo(f"  model registration failed: {details['registrationError']}")


@runs.command("logs")
@click.argument("run_id", shell_complete=complete_run_id)
@click.option("--follow", "-f", is_flag=True, help="Keep printing until the run ends.")
@click.option("--file", "log_file", default="std_log.txt", show_default=True, help="Which log under logs/.")
@click.pass_context
def logs(ctx: click.Context, run_id: str, log_file: str, follow: bool) -> None:
    """Print a run's log (the job's stdout and stderr by default)."""
    run = _get(ctx, run_id)
    run.get_status()
    path = run.run_dir / "logs" / log_file
    if path.is_file():
        click.echo(path.read_text(errors="replace"), nl=False)
    elif is_terminal(run.status) or log_file not in STREAMED_LOGS:
        have = [f.removeprefix("logs/") for f in run.get_file_names() if f.startswith("logs/")]
        raise RunError(f"run {run.id} has no log {log_file!r}; its logs: {', '.join(have) or 'none yet'}", run.id)
    while follow and not is_terminal(run.status):
        chunks = run.refresh(wait=POLL_WAIT)  # the node answers when there is something new
        if log_file in chunks:
            click.echo(chunks[log_file].decode(errors="replace"), nl=False)
        else:
            time.sleep(0.05)  # another client may be syncing this run: do not spin


@runs.command("attach")
@click.argument("run_id", shell_complete=complete_run_id)
@click.option("--json", "as_json", is_flag=True, help="Print the run's details as JSON when done.")
@click.pass_context
def attach(ctx: click.Context, run_id: str, as_json: bool) -> None:
    """Follow a run again (after Ctrl-C, a lost connection or a restarted client) and collect its outputs."""
    sys.exit(follow(_get(ctx, run_id), as_json))


@runs.command("cancel")
@click.argument("run_id", shell_complete=complete_run_id)
@click.option("--wait/--no-wait", default=True, show_default=True, help="Wait until the run has stopped.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def cancel(ctx: click.Context, run_id: str, wait: bool, as_json: bool) -> None:
    """Cancel a run (SIGTERM to its process group, SIGKILL after a grace period)."""
    run = _get(ctx, run_id)
    run.cancel()
    if wait:
        run.wait_for_completion(raise_on_error=False, out=sys.stderr)
    if as_json:
        echo_json({"runId": run.id, "status": run.status, "statusReason": run.record.get("status_reason")})
    else:
        click.echo(f"{run.id}: {run.status}")


@runs.command("metrics")
@click.argument("run_id", shell_complete=complete_run_id)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), help="Draw every series into a PNG.")
@click.pass_context
def metrics(ctx: click.Context, run_id: str, as_json: bool, plot_path: str | None) -> None:
    """Print a run's metrics; --plot draws each logged series against its step."""
    run = _get(ctx, run_id)
    run.get_status()
    values = run.get_metrics()
    if plot_path:
        plot_series(compute_series(load_records(run.run_dir / "metrics.jsonl")), Path(plot_path), run.id)
        click.echo(f"wrote {plot_path}", err=True)
    if as_json:
        echo_json(values)
    else:
        for name, value in values.items():
            click.echo(f"{name}\t{fmt_value(value)}")


@runs.command("download")
@click.argument("run_id", shell_complete=complete_run_id)
@click.option("--output", "-o", default=".", type=click.Path(file_okay=False), help="Target directory.")
@click.option("--prefix", help="Only files under this prefix (e.g. outputs/).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def download(ctx: click.Context, run_id: str, output: str, prefix: str | None, as_json: bool) -> None:
    """Copy a run's outputs/ and logs/ to a directory."""
    run = _get(ctx, run_id)
    run.get_status()
    paths = run.download_files(prefix, output)
    if as_json:
        echo_json({"runId": run.id, "files": paths})
        return
    for path in paths:
        click.echo(path)
