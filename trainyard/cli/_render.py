"""Rendering helpers shared by the CLI commands (tables, JSON, durations)."""

from __future__ import annotations

import json
import time
from typing import Any

import click

from trainers.status import is_terminal

from ..workspace import Workspace


def load_workspace(ctx: click.Context) -> Workspace:
    return Workspace.load(ctx.obj.get("workspace_path"))


def echo_json(obj: Any) -> None:
    click.echo(json.dumps(obj, indent=2, sort_keys=True, default=str))


def echo_table(rows: list[list[Any]], headers: list[str]) -> None:
    cells = [[str("" if c is None else c) for c in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    click.echo("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    for row in cells:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def progress(message: str) -> None:
    click.echo(message, err=True)


def fmt_time(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else "-"


def fmt_duration(record: dict) -> str:
    start = record.get("started") or record.get("created")
    end = record.get("ended") or (None if is_terminal(record.get("status")) else time.time())
    return f"{end - start:.1f}s" if start and end else "-"


def fmt_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list):
        shown = ", ".join(fmt_value(v) for v in value[-3:])
        return f"[{len(value)} values] … {shown}" if len(value) > 3 else f"[{shown}]"
    if isinstance(value, dict) and set(value) == {"labels", "matrix"}:
        return f"{len(value['labels'])}×{len(value['labels'])} confusion matrix (see the image)"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {fmt_value(v)}" for k, v in list(value.items())[:4]) + "}"
    return str(value)


def parse_pairs(items: tuple[str, ...], what: str) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise click.BadParameter(f"{item!r}: expected KEY=VALUE", param_hint=what)
        out[key] = value
    return out
