from __future__ import annotations

import sys

import click

from ..compute import ComputeTarget, attach_node, attach_slurm, disconnect_all
from ._complete import complete_compute
from ._render import echo_json, echo_table, load_workspace


@click.group()
def compute() -> None:
    """List, describe and attach compute targets."""


@compute.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def list_(ctx: click.Context, as_json: bool) -> None:
    """List the workspace's computes and their nodes (from the config; no connection)."""
    targets = [t.get_status() for t in load_workspace(ctx).compute_targets.values()]
    if as_json:
        echo_json(targets)
        return
    rows = []
    for t in targets:
        nodes = t.get("nodes") or [{"name": "localhost"}]
        for n in nodes:
            rows.append([t["name"], t["type"], n.get("name"), f"{n['host']}:{n.get('port', 22)}" if "host" in n
                         else "", n.get("gpus", 0), n.get("slots", "")])
    echo_table(rows, ["COMPUTE", "TYPE", "NODE", "ADDRESS", "GPUS", "SLOTS"])


@compute.command("status")
@click.argument("name", shell_complete=complete_compute)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def status(ctx: click.Context, name: str, as_json: bool) -> None:
    """Connect to every node of NAME: reachable, Python, uv, GPUs, free slots, runs, free disk."""
    target = ComputeTarget(load_workspace(ctx), name)
    rows = target.describe_nodes()
    for row in rows:
        for problem in row.get("problems", []):
            click.echo(f"warning: {row['node']}: {problem}", err=True)
    if as_json:
        echo_json(rows)
        return
    if target.type == "slurm":
        _echo_cluster(rows[0])
        return
    echo_table([[r["node"], "yes" if r["reachable"] else "NO", r.get("python", ""), "yes" if r.get("uv") else "no",
                 r.get("gpus", ""), r.get("free_slots", ""), len(r.get("running", [])), len(r.get("queued", [])),
                 f"{r['free_disk'] / 1e9:.1f} GB" if "free_disk" in r else r.get("error", "")] for r in rows],
               ["NODE", "REACHABLE", "PYTHON", "UV", "GPUS", "FREE SLOTS", "RUNNING", "QUEUED", "FREE DISK"])


@compute.command("attach")
@click.argument("name")
@click.option("--host", required=True, help="Host name or address of the machine.")
@click.option("--port", default=22, show_default=True, type=int)
@click.option("--user", help="Login user (default: ~/.ssh/config, else $USER).")
@click.option("--identity", type=click.Path(dir_okay=False), help="Private key file.")
@click.option("--gpus", default=0, show_default=True, type=int, help="GPUs on the machine.")
@click.option("--slots", type=int, help="Concurrent runs (default: one per GPU, else one).")
@click.option("--root", default="~/.trainyard", show_default=True, help="Trainyard's directory on the node.")
@click.option("--node-name", help="Name of the node in the pool (default HOST-PORT).")
@click.option("--accept-host-key", metavar="SHA256:…", help="Trust this host key fingerprint without asking.")
@click.option("--slurm", is_flag=True, help="HOST is the login node of a Slurm cluster: NAME becomes a slurm "
              "compute, and --root must be on the file system the compute nodes share.")
@click.option("--partition", help="Slurm partition (default: the cluster's default).")
@click.option("--account", help="Slurm account to charge.")
@click.option("--qos", help="Slurm QOS.")
@click.option("--sbatch-arg", "sbatch_args", multiple=True, metavar="ARG",
              help="Extra sbatch argument for every job (repeatable), e.g. --sbatch-arg=--constraint=a100.")
@click.option("--env", "env", multiple=True, metavar="KEY=VALUE",
              help="Environment for commands on the node (repeatable): proxies, SLURM_CONF, UV_INDEX_URL …")
@click.pass_context
def attach(ctx: click.Context, name: str, host: str, port: int, user: str | None, identity: str | None,
           gpus: int, slots: int | None, root: str, node_name: str | None, accept_host_key: str | None,
           slurm: bool, partition: str | None, account: str | None, qos: str | None, sbatch_args: tuple,
           env: tuple) -> None:
    """Add an existing machine to the SSH pool NAME (created if needed), pinning its host key; with
    --slurm, make NAME a Slurm compute reached through the login node HOST."""
    confirm = (lambda q: click.confirm(q, default=False, err=True)) if sys.stdin.isatty() else None
    pairs = dict(e.partition("=")[::2] for e in env)
    if any("=" not in e for e in env):
        raise click.BadParameter("use KEY=VALUE", param_hint="--env")
    if slurm:
        target = attach_slurm(load_workspace(ctx), name, host, root, port, user, identity, accept_host_key,
                              confirm, partition, account, qos, list(sbatch_args), pairs)
        click.echo(f"attached Slurm cluster {name} (login {host}:{port}, {target['fingerprint']}): partitions "
                   f"{', '.join(target['partitions'])}; shared root {root}")
        return
    if partition or account or qos or sbatch_args:
        raise click.UsageError("--partition, --account, --qos and --sbatch-arg need --slurm")
    node = attach_node(load_workspace(ctx), name, host, port, user, identity, gpus, slots, root,
                       accept_host_key, confirm, node_name)
    click.echo(f"attached {node['name']} ({host}:{port}, {node['fingerprint']}) to {name}: "
               f"Python {node['python']}, uv {'present' if node['uv'] else 'installed on first build'}")


@compute.command("disconnect")
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def disconnect(ctx: click.Context, name: str | None, as_json: bool) -> None:
    """End the kept-alive SSH connections (connection holders) of NAME's nodes, or all of yours.

    A CLI command that reaches a pool leaves its connection open for a few idle minutes so the next one
    starts at once; this closes them now (the next command connects afresh)."""
    stopped = ComputeTarget(load_workspace(ctx), name).disconnect() if name else disconnect_all()
    if as_json:
        echo_json({"stopped": stopped})
    else:
        click.echo(f"ended {stopped} connection holder{'s' if stopped != 1 else ''}")


def _echo_cluster(row: dict) -> None:
    if not row["reachable"]:
        click.echo(f"login node {row['host']}:{row['port']}: NOT reachable ({row.get('error')})")
        sys.exit(1)
    click.echo(f"login node {row['host']}:{row['port']}: Python {row.get('python')}; queue: "
               f"{row['queue_length']} jobs; yours: {row['my_running']} running, {row['my_pending']} pending")
    echo_table([[p["name"] + ("*" if p["default"] else ""), p["available"], p["time_limit"], p["default_time"],
                 ", ".join(f"{n} {state}" for state, n in sorted(p["nodes"].items())), p["gres"]]
                for p in row["partitions"]], ["PARTITION", "AVAIL", "TIME LIMIT", "DEFAULT TIME", "NODES", "GRES"])
