"""Reading JSON records of the workspace store (run.json, model.json, dataset.json …) as untrusted files.

``load_record`` turns a truncated, binary or mistyped record into a ``StoreError`` that names the path;
``skip_unreadable`` lets a listing go on past such records, each reported as an
``UnreadableRecordWarning`` (``trainyard check`` lists them too).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from trainers._atomic import read_json

from .errors import StoreError, UnreadableRecordWarning

T = TypeVar("T")


def load_record(path: str | os.PathLike, default: Any = None) -> Any:
    """The JSON object at ``path`` (``default`` if missing); StoreError if it is not a readable object."""
    try:
        data = read_json(path, default)
    except (ValueError, UnicodeDecodeError) as exc:
        raise StoreError(f"{path} is unreadable ({str(exc)[:80]}); restore or remove it "
                         "(`trainyard check` lists every such file)", str(path)) from None
    except IsADirectoryError:
        raise StoreError(f"{path} is a directory, not a record; remove it", str(path)) from None
    if data is not default and not isinstance(data, dict):
        raise StoreError(f"{path} is not a JSON object; restore or remove it", str(path))
    return data


def skip_unreadable(items: Iterable[T], load: Callable[[T], Any]) -> Iterator[Any]:
    """``load(item)`` for each item, skipping (and warning about) those whose record is unreadable."""
    for item in items:
        try:
            value = load(item)
        except StoreError as exc:
            warnings.warn(str(exc), UnreadableRecordWarning, stacklevel=2)
            continue
        yield value
