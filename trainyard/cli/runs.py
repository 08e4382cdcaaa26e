from __future__ import annotations

import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import click

from trainers.status import CANCELED, COMPLETED, STATUSES, is_terminal

from ..children import iter_children
from ..errors import RunError, TrainyardError, describe_os_error
from ..metrics import compute_series, load_records, plot_series
from ..run import POLL_WAIT, STREAMED_LOGS, Run
from ..runstore import RunStore
from . import EXIT_ERROR, EXIT_RUN_CANCELED, EXIT_RUN_FAILED
from ._complete import complete_run_id
from ._render import (
    echo_json,
    echo_table,
    fmt_duration,
    fmt_time,
    fmt_value,
    load_workspace,
    make_progress,
    printable,
)


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


def render_children(run: Run, details: dict) -> None:
    """A sweep's children sorted by the primary metric (best first), or a run's children by age."""
    rows = details.get("children")
    if rows is None:
        rows = [{"run_id": c.id, "status": c.status, "hyperparameters": c.record.get("hyperparameters") or {},
                 "best_primary_metric": None} for c in reversed(run.get_children())]
    if not rows:
        return
    metric = (details.get("hyperdrive") or {}).get("primary_metric_name")
    click.echo(f"children ({len(rows)}" + (f", sorted by {metric}, best first):" if metric else "):"))
    echo_table([[r["run_id"], r["status"], "-" if r["best_primary_metric"] is None else fmt_value(r["best_primary_metric"]),
                 " ".join(f"{k}={fmt_value(v)}" for k, v in r["hyperparameters"].items())] for r in rows],
               ["CHILD RUN", "STATUS", (metric or "METRIC").upper(), "HYPERPARAMETERS"])


def render_result(run: Run) -> None:
    r = run.record
    click.echo(f"Run {run.id}: {r['status']} in {fmt_duration(r)}")
    if r.get("type") == "hyperdrive":
        render_children(run, run.get_details())
        if r.get("model_id"):
            click.echo(f"Registered model: {r['model_id']} (from the best run, {r.get('best_run_id')})")
        return
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
@click.option("--all", "show_all", is_flag=True, help="Also child runs (sweep trials), under their parent.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def list_(ctx: click.Context, experiment: str | None, status: str | None, limit: int, show_all: bool,
          as_json: bool) -> None:
    """List runs, newest first (active runs are refreshed from their node); child runs only with --all."""
    ws = load_workspace(ctx)
    store = RunStore(ws.root)
    records = []
    for batch in _batches(store.iter_runs(experiment), limit):  # newest first; reads only what it shows
        batch = [r for r in batch if not r.get("parent")]  # children are listed under their parent (--all)
        active = [r["run_id"] for r in batch if not is_terminal(r["status"])]
        with ThreadPoolExecutor(max_workers=8) as pool:  # every node probed at once, each only once
            for run_id, problem in zip(active, pool.map(lambda i: _catch_up(ws, i), active), strict=True):
                if problem:
                    click.echo(f"warning: {run_id}: {problem}", err=True)
        for r in batch:
            r = store.load(r["run_id"]) if r["run_id"] in active else r
            if status is None or r["status"] == status:
                if sum(1 for depth, _ in records if depth == 0) >= limit:
                    break
                records.append((0, r))
                if show_all:
                    records += list(_descendants(store, r))
        if sum(1 for depth, _ in records if depth == 0) >= limit:
            break
    if as_json:
        echo_json([r for _, r in records])
        return
    echo_table([["  " * (depth - 1) + ("└ " if depth else "") + r["run_id"], r["status"], r.get("compute") or "",
                 fmt_time(r["created"]), fmt_duration(r), r.get("model_id") or ""] for depth, r in records],
               ["RUN ID", "STATUS", "COMPUTE", "CREATED", "DURATION", "MODEL"])


def _descendants(store: RunStore, record: dict, depth: int = 1):
    """(depth, record) of every run under ``record``, oldest child first, each followed by its own."""
    for child in sorted(iter_children(store, record), key=lambda c: c["created"]):
        yield depth, child
        yield from _descendants(store, child, depth + 1)


def _batches(records, size: int):
    batch = []
    for r in records:
        batch.append(r)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _catch_up(ws, run_id: str) -> str | None:
    """Bring one run up to date with its node (to its end if it ended); the problem, if any, as text."""
    try:
        Run(ws, run_id).get_status()
    except TrainyardError as exc:  # one run that cannot be brought up to date does not stop the list
        return str(exc)
    except OSError as exc:  # a read-only or full store: list what is stored
        return describe_os_error(exc)
    return None


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
        ("environment", f"{env.get('name')} {str(env.get('hash', ''))[:12]}" if env else None),
        ("exit code", details.get("exitCode")), ("model", details.get("modelId")),
        ("tags", ", ".join(f"{k}={v}" for k, v in details["tags"].items()) or None),
        ("parent", details.get("parentRunId")), ("children", details.get("childRuns")),
        ("store", details["portalUrl"]),
    ]
    for k, v in lines:
        if v is not None:
            click.echo(f"{k + ':':13} {v}")
    for name, value in details["metrics"].items() if "hyperdrive" not in details else ():  # a sweep: per child
        click.echo(f"  metric {name}: {fmt_value(value)}")
    for name, path in details["images"].items():
        click.echo(f"  image {name}: {run.run_dir / path if isinstance(path, str) else path}")
    for f in details["files"]:
        click.echo(f"  file {f}")
    for rej in details["rejectedOutputs"]:
        click.echo(f"  rejected {printable(rej['path'])}: {rej['reason']}")
    render_children(run, details)
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
    """Follow a run again (after Ctrl-C, a lost connection or a restarted client) and collect its outputs;
    a run failed as "node lost" is revised if its node answers again."""
    run = _get(ctx, run_id)
    run.revive()
    sys.exit(follow(run, as_json))


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
