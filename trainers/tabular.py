"""Tabular data: a recipe over files, read into columns (standard library; pandas only in ``to_pandas``).

One implementation for both sides: the control plane's ``TabularDataset.to_pandas_dataframe()`` and a job's
``run.input_datasets[name].to_pandas_dataframe()`` both call ``read_table(files, recipe)``. A recipe is plain
JSON::

    {"format": "delimited" | "parquet", "files": [names in order], "separator": ",", "header": true,
     "infer_column_types": true, "set_column_types": {"col": "int"}, "steps": [{"take": 5}, ...]}

Steps: ``take``, ``keep_columns``, ``drop_columns``, ``random_split`` (``{"percentage", "seed", "part"}``,
deterministic per seed). Errors (``TableError``) name the file and the line.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path
from typing import Any

TYPES = ("int", "float", "bool", "str", "datetime")
Columns = dict[str, list[Any]]


class TableError(ValueError):
    """A malformed file, a missing column or a value that is not of its column's type."""


def read_table(files: list[Path], recipe: dict) -> Columns:
    """The recipe applied to ``files`` (in order): column name → values."""
    if not files:
        raise TableError("the tabular dataset has no files")
    table: Columns | None = None
    for path in files:
        part = _read_parquet(path) if recipe.get("format") == "parquet" else _read_delimited(path, recipe)
        if table is None:
            table = part
        elif list(part) != list(table):
            raise TableError(f"{path}: columns {list(part)} differ from the first file's {list(table)}")
        else:
            for name, values in part.items():
                table[name].extend(values)
    assert table is not None
    for step in recipe.get("steps", []):
        table = apply_step(table, step, files[0])
    return table


def apply_step(table: Columns, step: dict, where: Path) -> Columns:
    """One recipe step (pure)."""
    (kind, arg), = step.items()
    rows = len(next(iter(table.values()), []))
    if kind == "take":
        return {k: v[:int(arg)] for k, v in table.items()}
    if kind in ("keep_columns", "drop_columns"):
        names = [arg] if isinstance(arg, str) else list(arg)
        missing = [n for n in names if n not in table]
        if missing:
            raise TableError(f"{where}: no column {', '.join(map(repr, missing))} (header at line 1; "
                             f"columns: {', '.join(table)})")
        keep = names if kind == "keep_columns" else [n for n in table if n not in names]
        return {k: table[k] for k in keep}
    if kind == "random_split":
        order = list(range(rows))
        random.Random(arg["seed"]).shuffle(order)
        cut = round(rows * float(arg["percentage"]))
        chosen = sorted(order[:cut] if arg["part"] == 0 else order[cut:])
        return {k: [v[i] for i in chosen] for k, v in table.items()}
    raise TableError(f"unknown recipe step {kind!r}")


def to_pandas(table: Columns) -> Any:
    """The columns as a pandas DataFrame (pandas is needed only here)."""
    try:
        import pandas  # start-up time: pandas is needed (and present) only where a table is read
    except ImportError:
        raise TableError("to_pandas_dataframe needs pandas; add pandas to the environment "
                         "(the curated AzureML-sklearn environments have it)") from None
    return pandas.DataFrame(table)


def _read_delimited(path: Path, recipe: dict) -> Columns:
    types = dict(recipe.get("set_column_types") or {})
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh, delimiter=recipe.get("separator", ","), strict=True)
        try:
            rows = list(reader)
        except csv.Error as exc:
            raise TableError(f"{path}: line {reader.line_num}: {exc}") from None
    if not rows:
        raise TableError(f"{path}: the file is empty")
    if recipe.get("header", True):
        names, body, first = rows[0], rows[1:], 2
    else:
        names, body, first = [f"Column{i + 1}" for i in range(len(rows[0]))], rows, 1
    if len(set(names)) != len(names):
        raise TableError(f"{path}: line 1: duplicate column names in the header {names}")
    for i, row in enumerate(body):
        if len(row) != len(names):
            raise TableError(f"{path}: line {first + i}: {len(row)} fields, but the header has {len(names)} "
                             f"({', '.join(names)}); check the separator and quoting")
    missing = [n for n in types if n not in names]
    if missing:
        raise TableError(f"{path}: line 1: set_column_types names missing column(s) {', '.join(missing)}; "
                         f"columns: {', '.join(names)}")
    table: Columns = {}
    for j, name in enumerate(names):
        raw = [row[j] for row in body]
        kind = types.get(name) or (_infer(raw) if recipe.get("infer_column_types", True) else "str")
        table[name] = [_convert(v, kind, path, first + i, name) for i, v in enumerate(raw)]
    return table


def _infer(values: list[str]) -> str:
    present = [v for v in values if v != ""]
    for kind in ("int", "float", "bool"):
        try:
            for v in present:
                _convert(v, kind, None, 0, "")
            return kind if present else "str"
        except TableError:
            continue
    return "str"


def _convert(value: str, kind: str, path: Path | None, line: int, column: str) -> Any:
    if value == "" and kind != "str":
        return None
    try:
        if kind == "int":
            return int(value)
        if kind == "float":
            return float(value)
        if kind == "bool":
            lowered = value.strip().lower()
            if lowered not in ("true", "false", "1", "0"):
                raise ValueError(value)
            return lowered in ("true", "1")
        if kind == "datetime":
            from datetime import datetime  # start-up time: only datetime columns need it

            return datetime.fromisoformat(value)
        if kind == "str":
            return value
    except ValueError:
        raise TableError(f"{path}: line {line}: column {column!r}: {value!r} is not {kind}") from None
    raise TableError(f"column {column!r}: unknown type {kind!r}; use one of {', '.join(TYPES)}")


def _read_parquet(path: Path) -> Columns:
    try:
        import pyarrow.parquet as pq  # start-up time: only parquet needs pyarrow (and nodes may lack it)
    except ImportError:
        raise TableError("reading parquet files needs pyarrow; add pyarrow to the environment") from None
    try:
        return pq.read_table(path).to_pydict()
    except Exception as exc:  # pyarrow's ArrowInvalid and friends
        raise TableError(f"{path}: not a readable parquet file ({exc})") from None


class TabularInput:
    """``run.input_datasets[name]`` for a tabular input inside a job: the files on the node plus the recipe."""

    def __init__(self, folder: str, recipe: dict):
        self.folder = folder
        self.recipe = recipe

    def files(self) -> list[Path]:
        return [Path(self.folder) / name for name in self.recipe["files"]]

    def to_pandas_dataframe(self) -> Any:
        return to_pandas(read_table(self.files(), self.recipe))

    def __fspath__(self) -> str:
        return self.folder

    def __str__(self) -> str:
        return self.folder

    def __repr__(self) -> str:
        return f"TabularInput(folder={self.folder!r}, files={self.recipe['files']!r})"
