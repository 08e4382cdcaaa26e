from __future__ import annotations

import json
import time
from pathlib import Path

import click

from ..errors import WebserviceException
from ..service import Webservice
from ..transport.forward import forward as make_forward
from ._render import echo_json, echo_table, fmt_time, load_workspace


def describe(service: Webservice, keys: bool = False) -> dict:
    """The service record with its live state and the URI to score it at (what --json prints)."""
    service.refresh()
    out = service.serialize()
    out.setdefault("scoring_uri", None)
    out.setdefault("swagger_uri", None)
    if keys and service.auth_enabled:
        out["keys"] = dict(zip(("primary", "secondary"), service.get_keys(), strict=True))
    return out


def where(info: dict) -> str:
    if info.get("scoring_uri"):
        return info["scoring_uri"]
    if info.get("node_scoring_uri"):
        return f"{info['node_scoring_uri']}; `trainyard services forward {info['name']}` reaches it from here"
    return "-"


@click.group()
def services() -> None:
    """Web services made by `trainyard models deploy` (Model.deploy): list, show, logs, test, forward, delete."""


@services.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def list_(ctx: click.Context, as_json: bool) -> None:
    """List services with their state (asked of their nodes)."""
    found = [describe(s) for s in Webservice.list(load_workspace(ctx))]
    if as_json:
        echo_json(found)
        return
    echo_table([[s["name"], s["state"], s["compute"], ", ".join(s["models"]), s.get("restarts") or 0, where(s)]
                for s in found], ["SERVICE", "STATE", "COMPUTE", "MODELS", "RESTARTS", "SCORING URI"])


@services.command("show")
@click.argument("name")
@click.option("--keys", is_flag=True, help="Include the auth keys.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def show(ctx: click.Context, name: str, keys: bool, as_json: bool) -> None:
    """Show one service: state and reason, restarts, models, environment, where to score it."""
    info = describe(Webservice(load_workspace(ctx), name), keys)
    if as_json:
        echo_json(info)
        return
    click.echo(f"service:     {info['name']} ({info['kind']} configuration, compute {info['compute']}, "
               f"node {info['node'].get('name')})")
    click.echo(f"state:       {info['state']}" + (f" ({info['reason']})" if info.get("reason") else ""))
    click.echo(f"restarts:    {info.get('restarts') or 0}")
    click.echo(f"models:      {', '.join(info['models']) or '-'}")
    click.echo(f"entry:       {info.get('entry_script') or 'built-in (no-code, ' + str(info.get('framework')) + ')'}")
    click.echo(f"environment: {info['environment']['name']} {info['environment']['hash'][:12]}")
    click.echo(f"scoring:     {where(info)}")
    click.echo(f"auth:        {'key (Authorization: Bearer KEY)' if info['auth_enabled'] else 'none'}")
    calls = (info.get("deployment_config") or {}).get("replica_max_concurrent_requests") or 1
    click.echo(f"concurrency: {calls} run() call{'s' if calls > 1 else ''} at a time "
               "(replica_max_concurrent_requests)")
    for k, v in (info.get("keys") or {}).items():
        click.echo(f"  {k} key: {v}")
    click.echo(f"deployed:    {fmt_time(info.get('created'))}")


@services.command("logs")
@click.argument("name")
@click.option("--lines", "-n", default=200, show_default=True, help="How many lines from the end.")
@click.pass_context
def logs(ctx: click.Context, name: str, lines: int) -> None:
    """The server's log (with the environment build log when the service failed)."""
    click.echo(Webservice(load_workspace(ctx), name).get_logs(num_lines=lines))


@services.command("test")
@click.argument("name")
@click.option("--data", "data_file", required=True, type=click.Path(dir_okay=False, exists=True),
              help='A JSON file with the request body, e.g. {"data": [[5.1, 3.5, 1.4, 0.2]]}.')
@click.pass_context
def test(ctx: click.Context, name: str, data_file: str) -> None:
    """Score FILE.json with the service (its key is sent when auth is on); prints the answer."""
    text = Path(data_file).read_text()
    try:
        json.loads(text)
    except ValueError as exc:
        raise WebserviceException(f"{data_file} is not valid JSON ({exc}); the body must be a JSON document") from None
    echo_json(Webservice(load_workspace(ctx), name).run(text))


@services.command("forward")
@click.argument("name")
@click.option("--port", "local_port", type=int, default=0, help="Local port (default: a free one).")
@click.pass_context
def forward(ctx: click.Context, name: str, local_port: int) -> None:
    """Keep a local port forwarded to a service on an SSH node until Ctrl-C (like `ssh -L`)."""
    service = Webservice(load_workspace(ctx), name)
    if service.serialize().get("address"):
        click.echo(service.scoring_uri)
        click.echo("(reachable directly; no forward needed)", err=True)
        return
    service.refresh()
    if not service.port:
        raise WebserviceException(f"service {name!r} has no port yet ({service.state}); wait until it is Healthy")
    fwd = make_forward(service._node(), service.port, local_port)
    click.echo(f"http://127.0.0.1:{fwd.port}/score")
    click.echo("forwarding; Ctrl-C stops it", err=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        fwd.close()


@services.command("delete")
@click.argument("name")
@click.pass_context
def delete(ctx: click.Context, name: str) -> None:
    """Stop a service (its port is free afterwards) and remove it."""
    Webservice(load_workspace(ctx), name).delete()
    click.echo(f"deleted {name}")
