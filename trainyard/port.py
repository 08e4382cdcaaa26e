"""``trainyard port``: rename ``azureml`` imports to ``trainyard`` in ``.py`` files and notebook code cells,
and report every v1 API the code uses that Trainyard does not have, with file and line.

Everything is found with ``ast`` (and ``tokenize`` for the exact columns of a module name); nothing is
matched with regular expressions. Support is not a hand-kept list: a v1 name is supported when the same
path exists under ``trainyard`` (``azureml.core.compute.AmlCompute`` → ``trainyard.core.compute.AmlCompute``),
and a method is supported when the class has it. Calls on objects are followed through the return
annotations of Trainyard's own functions (``Workspace.from_config() -> Workspace``), so ``ws.write_config()``
is reported too.

Training scripts (those calling ``Run.get_context()``) are left unchanged: on a node, the ``azureml`` shim in
``trainers`` serves them, and their names are checked against it instead.
"""

from __future__ import annotations

import ast
import difflib
import importlib
import inspect
import io
import json
import os
import tokenize
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trainers._atomic import write_bytes_atomic

from .errors import PortError

V1, NEW = "azureml", "trainyard"
JOB_SHIM = "trainers.compat"  # where a training script's azureml imports resolve on a node
SKIP_DIRS = {".git", ".venv", "venv", "__pycache__", ".trainyard", ".ipynb_checkpoints", "node_modules"}


@dataclass
class Finding:
    path: str
    line: int
    api: str
    message: str
    cell: int | None = None

    def render(self) -> str:
        where = f"{self.path}:cell {self.cell}:{self.line}" if self.cell is not None else f"{self.path}:{self.line}"
        return f"{where}: {self.api}: {self.message}"


@dataclass
class FilePort:
    path: str
    old: str
    new: str
    job_script: bool = False
    findings: list[Finding] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.old != self.new

    def render_diff(self) -> str:
        return "".join(difflib.unified_diff(self.old.splitlines(True), self.new.splitlines(True),
                                            f"a/{self.path}", f"b/{self.path}"))


# -- files ---------------------------------------------------------------------------------------------
def find_sources(paths: list[str]) -> list[Path]:
    """``.py`` and ``.ipynb`` files under ``paths`` (files given directly are taken as they are)."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_file():
            out.append(p)
        elif p.is_dir():
            for root, dirs, files in os.walk(p):
                dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
                out += [Path(root) / f for f in sorted(files) if f.endswith((".py", ".ipynb"))]
        else:
            raise PortError(f"{p} does not exist; give .py files, .ipynb notebooks or folders holding them")
    return out


def port_file(path: Path) -> FilePort:
    """The ported text of one file and its findings (reads, never writes)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PortError(f"cannot read {path}: {exc}") from None
    if path.suffix == ".ipynb":
        return _port_notebook(path, text)
    cells = [(None, text)]
    new, findings, job = _port_cells(str(path), cells)
    return FilePort(str(path), text, new[0], job, findings)


def write_port(result: FilePort) -> None:
    mode = os.stat(result.path).st_mode & 0o777
    write_bytes_atomic(result.path, result.new.encode("utf-8"), mode=mode)


def _port_notebook(path: Path, text: str) -> FilePort:
    try:
        nb = json.loads(text)
        cells = nb["cells"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise PortError(f"{path} is not a Jupyter notebook ({exc}); fix it or leave it out") from None
    code = [(i, "".join(c["source"]) if isinstance(c["source"], list) else c["source"])
            for i, c in enumerate(cells) if c.get("cell_type") == "code"]
    new_sources, findings, job = _port_cells(str(path), code)
    if [s for _, s in code] == new_sources:
        return FilePort(str(path), text, text, job, findings)
    for (i, _), source in zip(code, new_sources, strict=True):
        cells[i]["source"] = source.splitlines(True) if isinstance(cells[i]["source"], list) else source
    lines = text.splitlines()
    indent = len(lines[1]) - len(lines[1].lstrip(" ")) if len(lines) > 1 else 1
    new = json.dumps(nb, indent=indent, ensure_ascii=False) + ("\n" if text.endswith("\n") else "")
    return FilePort(str(path), text, new, job, findings)


# -- one file or notebook: its code chunks in order ----------------------------------------------------
def _port_cells(path: str, cells: list[tuple[int | None, str]]) -> tuple[list[str], list[Finding], bool]:
    trees = [(cell, source, _parse(path, cell, source)) for cell, source in cells]
    job = any(_calls_get_context(tree) for _, _, tree in trees if tree is not None)
    scope = _Scope(path, JOB_SHIM if job else None)
    out = []
    for cell, source, tree in trees:
        if tree is None:
            out.append(source)
            continue
        scope.cell = cell
        scope.lines = _parse_lines(source)
        edits = scope.visit_module(tree, rename=not job)
        out.append(_apply_edits(source, edits))
    return out, sorted(scope.findings, key=lambda f: (f.cell or 0, f.line, f.api)), job


def _parse_lines(source: str) -> list[str]:
    """The chunk's lines with IPython magics (``%x``, ``!x``) as ``pass`` lines, so ast can read it (pure)."""
    return [(ln[:len(ln) - len(ln.lstrip())] + "pass") if ln.lstrip().startswith(("%", "!")) else ln
            for ln in source.split("\n")]


def _parse(path: str, cell: int | None, source: str) -> ast.Module | None:
    """Parse a chunk (magics neutralised); a ``%%`` cell magic is skipped."""
    if source.lstrip().startswith("%%"):
        return None
    try:
        return ast.parse("\n".join(_parse_lines(source)))
    except SyntaxError as exc:
        where = f"{path} cell {cell}" if cell is not None else path
        raise PortError(f"{where}: line {exc.lineno}: {exc.msg}; fix the syntax error first") from None


def _calls_get_context(tree: ast.Module) -> bool:
    return any(isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "get_context"
               for n in ast.walk(tree))


def _apply_edits(source: str, edits: list[tuple[int, int, int, str]]) -> str:
    """Replace (line, start column, end column) spans, in characters, from the right (pure)."""
    lines = source.split("\n")
    for line, start, end, text in sorted(set(edits), reverse=True):
        lines[line - 1] = lines[line - 1][:start] + text + lines[line - 1][end:]
    return "\n".join(lines)


# -- the analysis ----------------------------------------------------------------------------------------
@dataclass
class _Value:
    """What an expression is, as far as we can tell: a class (or module) or an instance of a class."""

    api: str  # v1 dotted name, for messages
    obj: Any  # the Trainyard object (None: not supported)
    instance: bool = False


class _Scope:
    def __init__(self, path: str, shim: str | None):
        self.path = path
        self.shim = shim
        self.cell: int | None = None
        self.lines: list[str] = []
        self.names: dict[str, _Value] = {}
        self.findings: list[Finding] = []
        self._seen: set[tuple] = set()

    def report(self, node: ast.AST, api: str, message: str) -> None:
        key = (self.cell, node.lineno, api)
        if key not in self._seen:
            self._seen.add(key)
            self.findings.append(Finding(self.path, node.lineno, api, message, self.cell))

    def target(self, module: str) -> str:
        """Where a v1 (or already ported) module lives: under trainyard, or in the job shim."""
        if module.split(".")[0] == NEW:
            return module
        rest = module[len(V1):]
        return f"{self.shim}.{V1}{rest}" if self.shim else f"{NEW}{rest}"

    def visit_module(self, tree: ast.Module, rename: bool) -> list[tuple[int, int, int, str]]:
        edits: list[tuple[int, int, int, str]] = []
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                edits += self.visit_import(node, rename)
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                value = self.infer(node.value)
                if value is not None:
                    self.names[node.targets[0].id] = value
            elif isinstance(node, ast.Call):
                self.infer(node)
            elif rename and isinstance(node, ast.Name) and node.id == V1 and V1 in self.names:
                col = _char_col(self.lines[node.lineno - 1], node.col_offset)
                edits.append((node.lineno, col, col + len(V1), NEW))
        return edits

    def visit_import(self, node: ast.Import | ast.ImportFrom, rename: bool) -> list[tuple[int, int, int, str]]:
        if isinstance(node, ast.ImportFrom):
            if node.level or not node.module or node.module.split(".")[0] not in (V1, NEW):
                return []
            module = _import(self.target(node.module))
            if module is None and any(a.name == "*" for a in node.names):
                self.report(node, node.module, self.unsupported_message(None, "*"))
            for alias in (a for a in node.names if a.name != "*"):  # a star import: only the module is checked
                api = f"{node.module}.{alias.name}"
                obj = getattr(module, alias.name, None) if module is not None else None
                if obj is None and module is not None:
                    obj = _import(f"{module.__name__}.{alias.name}")
                if obj is None:
                    self.report(node, api, self.unsupported_message(module, alias.name))
                self.names[alias.asname or alias.name] = _Value(api, obj)
            is_v1 = node.module.split(".")[0] == V1
            return _module_edits(self.lines, node) if rename and is_v1 and module is not None else []
        edits = []
        for alias in node.names:
            if alias.name.split(".")[0] not in (V1, NEW):
                continue
            root = alias.name.split(".")[0]
            module = _import(self.target(alias.name))
            if module is None:
                self.report(node, alias.name, self.unsupported_message(None, alias.name))
            if alias.asname:
                self.names[alias.asname] = _Value(alias.name, module)
            else:
                self.names[root] = _Value(root, _import(self.target(root)))
            if rename and module is not None and root == V1:
                edits = _module_edits(self.lines, node)
        return edits

    def unsupported_message(self, module: Any, name: str) -> str:
        if self.shim:
            return "not available inside jobs (the node's azureml shim has Run and Model)"
        if module is None:
            return "not supported by Trainyard (no such module); the import is left as it is"
        return f"not supported by Trainyard: {module.__name__} has no {name}; take it out of the import"

    def infer(self, node: ast.AST) -> _Value | None:
        """What ``node`` evaluates to; reports unsupported calls and attributes on the way."""
        if isinstance(node, ast.Name):
            return self.names.get(node.id)
        if isinstance(node, ast.Attribute):
            base = self.infer(node.value)
            if base is None or base.obj is None:
                return None
            api = f"{base.api}.{node.attr}"
            if inspect.ismodule(base.obj) and not hasattr(base.obj, node.attr):
                sub = _import(f"{base.obj.__name__}.{node.attr}")
                return _Value(api, sub) if sub is not None else self._missing(node, api)
            if not hasattr(base.obj, node.attr):
                return None if base.instance else self._missing(node, api)
            attr = getattr(base.obj, node.attr)
            return _Value(api, attr, instance=False) if inspect.isclass(attr) or inspect.ismodule(attr) \
                or callable(attr) else None
        if isinstance(node, ast.Call):
            for arg in [*node.args, *(k.value for k in node.keywords)]:
                self.infer(arg)
            if isinstance(node.func, ast.Attribute):
                base = self.infer(node.func.value)
                if base is not None and base.obj is not None and not hasattr(base.obj, node.func.attr) \
                        and not inspect.ismodule(base.obj):
                    owner = base.obj if inspect.isclass(base.obj) else type(base.obj)
                    return self._missing(node, f"{base.api}.{node.func.attr}",
                                         f"{owner.__name__} has no {node.func.attr}")
            func = self.infer(node.func)
            if func is None:
                return None
            if func.obj is None:  # a call of an unsupported v1 name (Pipeline(...))
                return self._missing(node, func.api)
            if inspect.isclass(func.obj):
                return _Value(func.api, func.obj, instance=True)
            returned = _return_class(func.obj)
            if returned is None:
                return None
            owner = func.api.rsplit(".", 1)[0]  # Workspace.from_config() -> Workspace keeps the v1 path
            return _Value(owner if owner.rsplit(".", 1)[-1] == returned.__name__ else returned.__name__,
                          returned, instance=True)
        return None

    def _missing(self, node: ast.AST, api: str, message: str = "not supported by Trainyard") -> None:
        self.report(node, api, "not available inside jobs (the node's azureml shim has Run and Model)"
                    if self.shim else message)
        return None


def _import(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def _module_edits(lines: list[str], node: ast.Import | ast.ImportFrom) -> list[tuple[int, int, int, str]]:
    """Where ``azureml`` starts a module name in an import statement, in characters (found with tokenize)."""
    segment = "\n".join(lines[node.lineno - 1:node.end_lineno]) + "\n"
    edits, previous = [], None
    try:
        for tok in tokenize.generate_tokens(io.StringIO(segment).readline):
            if tok.type == tokenize.NAME and tok.string == V1 and previous in ("from", "import", ","):
                edits.append((node.lineno + tok.start[0] - 1, tok.start[1], tok.end[1], NEW))
            if tok.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT, tokenize.INDENT):
                previous = tok.string
    except (tokenize.TokenError, SyntaxError):
        pass
    if isinstance(node, ast.ImportFrom):
        edits = edits[:1]  # only the module after `from`, never an imported name
    return edits


def _char_col(line: str, byte_col: int) -> int:
    """ast columns count UTF-8 bytes; edits count characters."""
    return len(line.encode("utf-8")[:byte_col].decode("utf-8", errors="ignore"))


def _return_class(obj: Any) -> type | None:
    """The class a Trainyard function or method says it returns (from its annotation), if it names one."""
    fn = getattr(obj, "__func__", obj)
    try:
        annotation = inspect.signature(fn).return_annotation
    except (TypeError, ValueError):
        return None
    if isinstance(annotation, str):  # postponed annotations: look the name up where the function lives
        import trainyard  # start-up time: the facade is loaded only when an annotation needs resolving

        name = annotation.split("|")[0].strip().strip("'\"")
        annotation = getattr(fn, "__globals__", {}).get(name) or getattr(trainyard, name, None)
    return annotation if inspect.isclass(annotation) and annotation is not inspect.Signature.empty else None
