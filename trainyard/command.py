"""Rendering a job command: ``${{inputs.x}}`` placeholders become references to environment variables.

An input value is never pasted into the shell text. Each placeholder is replaced by an expansion of the
variable ``TRAINYARD_ARG_<i>`` that carries the value, written for the quoting context the placeholder
sits in, so bash expands it exactly once and never parses it:

- bare (``--x ${{inputs.x}}``, ``--x=${{inputs.x}}``) → ``"${TRAINYARD_ARG_0}"`` (one word, no splitting or
  globbing: ``a b`` arrives as one argument, as Azure ML delivers it);
- inside double quotes → ``${TRAINYARD_ARG_0}``;
- inside single quotes → ``'"${TRAINYARD_ARG_0}"'`` (close the quote, expand, reopen);
- inside ``$'…'`` → ``'"${TRAINYARD_ARG_0}"$'``.

``$(…)`` and backticks open a fresh (bare) context. A backslash right before a placeholder stays a
literal backslash. The scan is one linear pass over the command.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

PLACEHOLDER_RE = re.compile(r"\$\{\{([^${}]*)\}\}")  # no nested $ { }: a scan is linear in the command
VAR_PREFIX = "TRAINYARD_ARG_"
MAX_VALUE_BYTES = 64 * 1024  # one environment string may be at most 128 KiB (MAX_ARG_STRLEN)

BARE, DOUBLE, SINGLE, ANSI, SUBST, BACKTICK = "bare", "double", "single", "ansi", "subst", "backtick"
_EXPANSION = {BARE: '"${{{v}}}"', SUBST: '"${{{v}}}"', BACKTICK: '"${{{v}}}"', DOUBLE: "${{{v}}}",
              SINGLE: "'\"${{{v}}}\"'", ANSI: "'\"${{{v}}}\"$'"}


@dataclass
class RenderedCommand:
    """The shell text to run and the environment variables that carry the input values."""

    text: str
    env: dict[str, str] = field(default_factory=dict)


def render_command(command: str, values: dict[str, str]) -> RenderedCommand:
    """Replace every ``${{inputs.NAME}}`` of ``command`` by a quoted reference to a variable holding
    ``values[NAME]`` (pure). Unknown names raise KeyError: validate the placeholders first."""
    names = sorted(values)
    var_of = {name: f"{VAR_PREFIX}{i}" for i, name in enumerate(names)}
    out: list[str] = []
    used: dict[str, str] = {}
    stack = [BARE]
    i, n = 0, len(command)
    last = ""  # the previous character when it was read plainly (not escaped, not a placeholder)
    while i < n:
        ctx = stack[-1]
        if command.startswith("${{", i):
            m = PLACEHOLDER_RE.match(command, i)
            if m:
                name = m.group(1).strip().split(".", 1)[1]
                var = var_of[name]
                used[var] = str(values[name])
                out.append(_EXPANSION[ctx].format(v=var))
                i, last = m.end(), ""
                continue
        ch = command[i]
        if ctx == SINGLE:
            if ch == "'":
                stack.pop()
            out.append(ch)
            i += 1
            continue
        if ch == "\\" and i + 1 < n:
            if PLACEHOLDER_RE.match(command, i + 1):
                out.append("\\\\")  # a literal backslash; the value that follows stays unparsed
                i += 1
            else:
                out.append(command[i:i + 2])
                i += 2
            last = ""
            continue
        previous, last = last, ch
        out.append(ch)
        i += 1
        if ctx == ANSI:
            if ch == "'":
                stack.pop()
        elif ctx == DOUBLE:
            if ch == '"':
                stack.pop()
            elif ch == "`":
                stack.append(BACKTICK)
            elif ch == "$" and command.startswith("(", i):
                stack.append(SUBST)
                out.append("(")
                i += 1
        else:  # BARE, SUBST, BACKTICK
            if ch == "'":
                stack.append(ANSI if previous == "$" else SINGLE)
            elif ch == '"':
                stack.append(DOUBLE)
            elif ch == "`":
                if ctx == BACKTICK:
                    stack.pop()
                else:
                    stack.append(BACKTICK)
            elif ch == "$" and command.startswith("(", i):
                stack.append(SUBST)
                out.append("(")
                i += 1
            elif ch == "(" and ctx == SUBST:
                stack.append(SUBST)  # nested parentheses inside $( … ) close one by one
            elif ch == ")" and ctx == SUBST:
                stack.pop()
    return RenderedCommand("".join(out), used)


def check_value(name: str, value: str) -> str | None:
    """Why an input value cannot be delivered to a job (None when it can): NUL bytes cannot be passed in
    an argument or the environment, and one value is capped at MAX_VALUE_BYTES."""
    if "\x00" in value:
        return f"input {name!r} contains a NUL byte, which no program argument can carry; remove it"
    if len(value.encode("utf-8", "surrogateescape")) > MAX_VALUE_BYTES:
        return (f"input {name!r} is {len(value.encode('utf-8', 'surrogateescape'))} bytes, over the "
                f"{MAX_VALUE_BYTES}-byte limit for one value; pass large data as a uri_file input instead")
    return None
