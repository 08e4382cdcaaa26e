from __future__ import annotations

import click

from ..cleanup import GRACE_SECONDS, collect_compute, collect_workspace, find_secrets
from ._complete import complete_compute
from ._render import echo_json, load_workspace


@click.command()
@click.option("--compute", "-c", "computes", multiple=True, metavar="NAME", shell_complete=complete_compute,
              help="Also clean this compute's nodes (repeatable).")
@click.option("--dry-run", "-n", is_flag=True, help="Show what would go and the space it frees; remove nothing.")
@click.option("--env-idle-days", default=30.0, show_default=True,
              help="Node environments unused this long go.")
@click.option("--env-budget-gb", type=float, help="Then remove least recently used environments beyond this size.")
@click.option("--blob-idle-days", default=7.0, show_default=True,
              help="Node blobs no run links, stored this long ago, go.")
@click.option("--grace-hours", default=GRACE_SECONDS / 3600, show_default=True,
              help="Workspace objects stored more recently than this stay (a submit may be storing them).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def gc(ctx: click.Context, computes: tuple[str, ...], dry_run: bool, env_idle_days: float,
       env_budget_gb: float | None, blob_idle_days: float, grace_hours: float, as_json: bool) -> None:
    """Free space: workspace objects nothing references; with --compute, node environments (idle, or LRU
    beyond a budget), unlinked blobs and finished run directories already pulled. Never what a queued or
    running run uses."""
    ws = load_workspace(ctx)
    secrets = find_secrets(ws)  # one scan of the store for the workspace and every node
    reports = [collect_workspace(ws, dry_run, grace_hours * 3600, secrets)]
    for compute in computes:
        reports += collect_compute(ws, compute, dry_run, env_idle_days,
                                   None if env_budget_gb is None else int(env_budget_gb * 1e9), blob_idle_days,
                                   secrets)
    if as_json:
        echo_json({"dryRun": dry_run, "reports": reports, "bytes": sum(r["bytes"] for r in reports)})
        return
    verb = "would remove" if dry_run else "removed"
    for report in reports:
        kinds: dict[str, list[int]] = {}
        for item in report["items"]:
            kinds.setdefault(item["kind"], []).append(item["bytes"])
            if item["kind"] != "blob":
                click.echo(f"  {verb} {item['kind']} {item['path']} ({item['bytes'] / 1e6:.1f} MB): {item['reason']}")
        summary = ", ".join(f"{len(sizes)} {kind}s" for kind, sizes in kinds.items()) or "nothing"
        click.echo(f"{report['where']}: {verb} {summary}, {report['bytes'] / 1e6:.1f} MB")
    total = sum(r["bytes"] for r in reports)
    click.echo(f"total: {total / 1e6:.1f} MB {'would be ' if dry_run else ''}freed")
