"""Shell completion of names (click's completion protocol): run ids, templates, models, datasets,
environments, computes. Each reads only directory names, never fails (a broken workspace completes
nothing), and finds the workspace as the command would (``-w`` given earlier on the line, or upwards)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click
from click.shell_completion import CompletionItem

from ..runstore import LATEST, parse_run_id
from ..workspace import Workspace


def _workspace(ctx: click.Context) -> Workspace:
    return Workspace.load(ctx.find_root().params.get("workspace_path"))


def _safe(names: Callable[[click.Context], list[str]]) -> Callable:
    def complete(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
        try:
            return [CompletionItem(n) for n in names(ctx) if n.startswith(incomplete)]
        except Exception:  # noqa: BLE001 - completion must never break the shell
            return []

    return complete


def _subdirs(path: Path) -> list[str]:
    return sorted(d.name for d in path.iterdir() if d.is_dir()) if path.is_dir() else []


def _run_ids(ctx: click.Context) -> list[str]:
    base = _workspace(ctx).root / "experiments"
    ids = [r for exp in _subdirs(base) for r in _subdirs(base / exp / "runs") if parse_run_id(r)]
    return [LATEST, *sorted(ids, key=lambda r: parse_run_id(r)[1], reverse=True)]


def _templates(ctx: click.Context) -> list[str]:
    from ..scaffold import templates_dir  # start-up time: only template completion needs the scaffolder

    return [d for d in _subdirs(templates_dir()) if (templates_dir() / d / "template.toml").is_file()]


complete_run_id = _safe(_run_ids)
complete_template = _safe(_templates)
complete_model = _safe(lambda ctx: _subdirs(_workspace(ctx).root / "models"))
complete_dataset = _safe(lambda ctx: _subdirs(_workspace(ctx).root / "datasets"))
complete_environment = _safe(lambda ctx: _subdirs(_workspace(ctx).root / "environments"))
complete_compute = _safe(lambda ctx: sorted(_workspace(ctx).compute_targets))
