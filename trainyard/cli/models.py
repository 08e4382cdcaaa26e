from __future__ import annotations

import sys

import click

from ..model import Model
from ..run import Run
from ..runstore import RunStore
from . import EXIT_INTERRUPTED
from ._complete import complete_model, complete_run_id
from ._render import echo_json, echo_table, fmt_time, load_workspace, parse_pairs, progress


def _model(ctx: click.Context, ref: str) -> Model:
    return Model(load_workspace(ctx), ref)


@click.group()
def models() -> None:
    """The model registry: list, show, register, download."""


@models.command("list")
@click.option("--name", help="Only this model.")
@click.option("--tag", "tags", multiple=True, metavar="KEY[=VALUE]", help="Only models with this tag.")
@click.option("--latest", is_flag=True, help="Only the latest version of each model.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def list_(ctx: click.Context, name: str | None, tags: tuple[str, ...], latest: bool, as_json: bool) -> None:
    """List registered models."""
    wanted = [t.split("=", 1) if "=" in t else t for t in tags]
    found = Model.list(load_workspace(ctx), name=name, tags=wanted, latest=latest)
    if as_json:
        echo_json([m.serialize() for m in found])
        return
    echo_table([[m.id, m.model_framework, m.run_id or "", fmt_time(m.created_time)] for m in found],
               ["MODEL", "FRAMEWORK", "RUN", "REGISTERED"])


@models.command("show")
@click.argument("ref", metavar="NAME[:VERSION|@latest]", shell_complete=complete_model)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def show(ctx: click.Context, ref: str, as_json: bool) -> None:
    """Show one model version (latest by default) with its lineage."""
    m = _model(ctx, ref)
    if as_json:
        echo_json({**m.serialize(), "id": m.id, "path": str(m.path)})
        return
    rec = m.serialize()
    click.echo(f"model:      {m.id}\nframework:  {m.model_framework} {m.model_framework_version or ''}")
    click.echo(f"path:       {m.path}\nregistered: {fmt_time(m.created_time)}")
    for key in ("run_id", "experiment", "snapshot"):
        if rec.get("lineage", {}).get(key):
            click.echo(f"{key + ':':11} {rec['lineage'][key]}")
    for k, v in (rec.get("lineage", {}).get("metrics") or {}).items():
        click.echo(f"  metric {k}: {v}")
    for k, v in m.tags.items():
        click.echo(f"  tag {k}: {v}")
    for f in rec["files"]:
        click.echo(f"  file {f['path']} ({f['size']} bytes, sha256 {f['sha256'][:12]})")


@models.command("register")
@click.argument("name")
@click.argument("path")
@click.option("--run", "run_id", shell_complete=complete_run_id, help="Register PATH (e.g. outputs/model.pkl) from this run, with lineage.")
@click.option("--framework", help="Custom, ScikitLearn, PyTorch, TensorFlow, TfKeras, Onnx or Multi.")
@click.option("--framework-version")
@click.option("--description")
@click.option("--tag", "tags", multiple=True, metavar="KEY=VALUE")
@click.option("--json", "as_json", is_flag=True, help="Print the registered model as JSON.")
@click.pass_context
def register(ctx: click.Context, name: str, path: str, run_id: str | None, framework: str | None,
             framework_version: str | None, description: str | None, tags: tuple[str, ...],
             as_json: bool) -> None:
    """Register a local file/folder, or a run's output, as the next version of NAME."""
    ws = load_workspace(ctx)
    kwargs = dict(tags=parse_pairs(tags, "--tag"), model_framework=framework,
                  model_framework_version=framework_version, description=description)
    if run_id:
        m = Run.get(ws, RunStore(ws.root).resolve(run_id)).register_model(name, path, **kwargs)
    else:
        m = Model.register(ws, path, name, **kwargs)
    if as_json:
        echo_json({**m.serialize(), "id": m.id, "path": str(m.path)})
    else:
        click.echo(m.id)


@models.command("download")
@click.argument("ref", metavar="NAME[:VERSION|@latest]", shell_complete=complete_model)
@click.option("--output", "-o", default=".", type=click.Path(file_okay=False), help="Target directory.")
@click.option("--force", is_flag=True, help="Overwrite existing files.")
@click.pass_context
def download(ctx: click.Context, ref: str, output: str, force: bool) -> None:
    """Copy a model's files out of the registry (sha256-verified)."""
    click.echo(_model(ctx, ref).download(output, exist_ok=force))


@models.command("deploy")
@click.argument("ref", metavar="NAME[:VERSION]")
@click.option("--name", "service_name", required=True, help="Service name (3-32 lowercase letters, digits, '-').")
@click.option("--compute", default="local", show_default=True, help="Compute to serve on (local or an SSH pool).")
@click.option("--entry-script", help="score.py with init() and run(raw_data); without it, no-code deployment.")
@click.option("--source-dir", help="Folder holding the entry script (default: the script's folder).")
@click.option("--environment", "environment_ref", metavar="NAME[:VERSION]",
              help="Registered environment (default: the one the model was trained in).")
@click.option("--auth", is_flag=True, help="Require a key (Authorization: Bearer KEY).")
@click.option("--port", type=int, help="Port on the node (default: a free one).")
@click.option("--max-concurrent-requests", type=click.IntRange(min=1),
              help="Calls inside run() at once (default 1, as in Azure ML; raise it for a run() that waits on I/O).")
@click.option("--force", "overwrite", is_flag=True, help="Replace a service of that name.")
@click.option("--no-wait", is_flag=True, help="Return once started, without waiting until Healthy.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def deploy(ctx: click.Context, ref: str, service_name: str, compute: str, entry_script: str | None,
           source_dir: str | None, environment_ref: str | None, auth: bool, port: int | None,
           max_concurrent_requests: int | None, overwrite: bool, no_wait: bool, as_json: bool) -> None:
    """Serve a registered model as a web service (v1 Model.deploy) and wait until it is Healthy."""
    from ..deployment import deploy  # start-up time
    from ..environment import Environment  # start-up time: `models list` and friends do not load these
    from ..inference import InferenceConfig  # start-up time
    from ..service import LocalWebservice, Webservice  # start-up time
    from .services import describe, where  # start-up time

    ws = load_workspace(ctx)
    config = None
    if entry_script or source_dir or environment_ref:
        if not entry_script:
            raise click.UsageError("--source-dir/--environment need --entry-script (the score.py to run)")
        env = None
        if environment_ref:
            name, _, version = environment_ref.replace("@", ":").partition(":")
            env = Environment.get(ws, name, version or None)
        config = InferenceConfig(entry_script, source_dir, env)
    record = deploy(ws, service_name, [_model(ctx, ref)], config,
                    LocalWebservice.deploy_configuration(
                        port=port, auth_enabled=auth, compute_target=compute,
                        replica_max_concurrent_requests=max_concurrent_requests),
                    overwrite=overwrite, progress=progress)
    service = Webservice(ws, record["name"])
    if not no_wait:
        try:
            service.wait_for_deployment(progress=progress)
        except KeyboardInterrupt:
            click.echo(f"interrupted; the service keeps starting on its node: `trainyard services show "
                       f"{service_name}` follows it, `trainyard services delete {service_name}` stops it", err=True)
            sys.exit(EXIT_INTERRUPTED)
    info = describe(service)
    if as_json:
        echo_json(info)
    else:
        click.echo(where(info))
