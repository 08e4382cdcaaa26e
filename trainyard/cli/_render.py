"""Rendering helpers shared by the CLI commands (tables, JSON, durations)."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import click

from trainers.status import is_terminal

from ..progress import render_bar
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


def printable(name: str) -> str:
    """A file name from a node as one safe line: control characters (newlines, escapes) shown escaped."""
    return name if name.isprintable() else repr(name)[1:-1]


def progress(message: str) -> None:
    click.echo(message, err=True)


class TerminalProgress:
    """Progress on a terminal: messages as lines, transfers as one live bar with rate and ETA."""

    def __init__(self) -> None:
        self._started: dict[str, float] = {}
        self._drawn = 0.0
        self._open = False

    def __call__(self, message: str) -> None:
        self._close()
        click.echo(message, err=True)

    def transfer(self, label: str, done: int, total: int | None) -> None:
        now = time.monotonic()
        started = self._started.setdefault(label, now)
        finished = bool(total) and done >= total
        if not finished and now - self._drawn < 0.1:  # at most ten redraws a second
            return
        self._drawn = now
        click.echo("\r\x1b[2K" + render_bar(label, done, total, now - started), err=True, nl=False)
        self._open = True
        if finished:
            self._close()
            self._started.pop(label, None)

    def _close(self) -> None:
        if self._open:
            click.echo("", err=True)
            self._open = False


def make_progress():
    """The progress sink for this process: a live bar when stderr is a terminal, else step lines."""
    return TerminalProgress() if sys.stderr.isatty() else progress


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
    if isinstance(value, dict) and value.get("schema_type") == "confusion_matrix":
        n = len(value["data"]["matrix"])
        return f"{n}×{n} confusion matrix (see the image)"
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
