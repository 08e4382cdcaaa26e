"""The scaffolder: render a training project from ``templates/<name>/`` (cookiecutter-like).

A template is a folder with ``template.toml`` (description, variables with type/default/help/choices, a
message shown after rendering) and jinja2 files whose contents *and* names are rendered with
``StrictUndefined``. Rendering refuses a non-empty target without ``force`` and, on any error, removes
only what it created.
"""

from __future__ import annotations

import os
import shutil
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2

from .errors import TemplateError

TYPES = {"str": str, "int": int, "float": float, "bool": bool}


def templates_dir() -> Path:
    """$TRAINYARD_TEMPLATES, else the templates packaged in the wheel (trainyard/templates/), else the
    repository's templates/ (an editable install or a checkout)."""
    env = os.environ.get("TRAINYARD_TEMPLATES")
    if env:
        return Path(env)
    packaged = Path(__file__).resolve().parent / "templates"
    return packaged if packaged.is_dir() else Path(__file__).resolve().parent.parent / "templates"


@dataclass
class Variable:
    name: str
    type: str
    default: Any
    help: str = ""
    choices: list | None = None

    def coerce(self, raw: Any) -> Any:
        """Convert a --set string (or a default) to the variable's type, or raise TemplateError."""
        kind = TYPES[self.type]
        try:
            if kind is bool and isinstance(raw, str):
                if raw.lower() not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError(raw)
                value = raw.lower() in ("true", "1", "yes")
            else:
                value = kind(raw)
        except (TypeError, ValueError):
            raise TemplateError(f"variable {self.name!r} must be of type {self.type}, got {raw!r}") from None
        if self.choices and value not in self.choices:
            raise TemplateError(f"variable {self.name!r} must be one of {self.choices}, got {value!r}")
        return value


@dataclass
class Template:
    name: str
    path: Path
    description: str
    message: str
    variables: dict[str, Variable] = field(default_factory=dict)

    def files(self) -> list[Path]:
        return sorted(p for p in self.path.rglob("*") if p.is_file() and p.name != "template.toml"
                      and "__pycache__" not in p.parts)


def list_templates() -> list[Template]:
    base = _existing_templates_dir()
    return [load_template(d.name) for d in sorted(base.iterdir()) if (d / "template.toml").is_file()]


def _existing_templates_dir() -> Path:
    base = templates_dir()
    if not base.is_dir():
        raise TemplateError(f"no templates at {base}: this installation lacks them; reinstall Trainyard from "
                            "its wheel or source (`pip install .`), or point TRAINYARD_TEMPLATES at a templates folder")
    return base


def load_template(name: str) -> Template:
    path = _existing_templates_dir() / name
    meta_path = path / "template.toml"
    if not meta_path.is_file():
        names = [d.name for d in sorted(templates_dir().iterdir()) if (d / "template.toml").is_file()]
        raise TemplateError(f"unknown template {name!r}; available: {', '.join(names)} "
                            "(`trainyard scaffold --list` describes them)")
    meta = tomllib.loads(meta_path.read_text())
    variables = {k: Variable(k, v.get("type", "str"), v.get("default"), v.get("help", ""), v.get("choices"))
                 for k, v in meta.get("variables", {}).items()}
    return Template(name, path, meta.get("description", ""), meta.get("message", ""), variables)


def resolve_values(template: Template, assignments: dict[str, str]) -> dict[str, Any]:
    unknown = sorted(set(assignments) - set(template.variables))
    if unknown:
        raise TemplateError(f"template {template.name!r} has no variable {unknown[0]!r}; its variables: "
                            f"{', '.join(template.variables) or 'none'}")
    return {n: v.coerce(assignments.get(n, v.default)) for n, v in template.variables.items()}


@dataclass
class RenderResult:
    template: Template
    output: Path
    files: list[Path]
    message: str


def render_template(name: str, output: str | os.PathLike | None = None, assignments: dict | None = None,
                    force: bool = False, dry_run: bool = False) -> RenderResult:
    """Render template ``name`` into ``output`` (default ``./<name>``)."""
    template = load_template(name)
    values = resolve_values(template, assignments or {})
    out = Path(output or name)
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not force:
        raise TemplateError(f"{out} exists and is not empty; choose another -o or pass --force "
                            "to render over it")
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                             autoescape=False)
    rendered: list[tuple[Path, str, int]] = []
    try:
        for src in template.files():
            rel = env.from_string(src.relative_to(template.path).as_posix()).render(values)
            text = env.from_string(src.read_text()).render(values)
            rendered.append((out / rel, text, src.stat().st_mode & 0o777))
        message = env.from_string(template.message).render({**values, "output": str(out)})
    except jinja2.TemplateError as exc:
        raise TemplateError(f"template {name!r} failed to render: {exc}") from exc
    if not dry_run:
        _write_all(out, rendered)
    return RenderResult(template, out, [p for p, _, _ in rendered], message)


def _write_all(out: Path, rendered: list[tuple[Path, str, int]]) -> None:
    """Write every file; on failure remove exactly the files and directories this call created."""
    created: list[Path] = []
    try:
        for path, text, mode in rendered:
            missing = [d for d in [path.parent, *path.parent.parents] if not d.exists()]
            for d in reversed(missing):
                d.mkdir()
                created.append(d)
            existed = path.exists()
            path.write_text(text)
            os.chmod(path, mode)
            if not existed:
                created.append(path)
    except BaseException:
        for p in reversed(created):
            if p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)
        raise
