"""The runs table's filter language and sort keys, compiled to SQL over the index (pure).

``metrics.accuracy>0.9 params.kernel=rbf status:Failed tag:team=vision exp:keras``: terms are ANDed.

- ``metrics.NAME OP NUMBER``: OP is one of ``> >= < <= = !=``; the run's last value, or ``.best``,
  ``.min``, ``.max`` after the name (``metrics.loss.min<0.2``);
- ``params.KEY OP VALUE``: numbers compare as numbers, anything else as text (``=``, ``!=``);
- ``status:S``, ``exp:E`` (experiment name contains E), ``tag:K=V`` or ``tag:K`` (has the tag),
  ``compute:C``, ``node:N``, ``parent:RUN_ID`` (its children);
- any other word: the run id or display name contains it. Quote terms with spaces: ``"tag:team=ml ops"``.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field

from ..errors import QueryError

OPS = (">=", "<=", "!=", ">", "<", "=")
AGGS = ("last", "best", "min", "max")
PLAIN_SORTS = {"created": "runs.created", "started": "runs.started", "status": "runs.status",
               "experiment": "runs.experiment", "name": "runs.name", "compute": "runs.compute",
               "node": "runs.node", "run_id": "runs.run_id"}
_COMPARISON = re.compile(r"(metrics|params)\.(.+?)(>=|<=|!=|>|<|=)(.*)$")
_MAXIMIZE = ("acc", "auc", "f1", "precision", "recall", "score", "map", "iou", "r2", "bleu", "top")


def metric_goal(name: str) -> str:
    """Whether bigger is better for a metric, guessed from its name: accuracy, AUC, F1, precision,
    recall, score … are maximised, anything else (loss, error, time) minimised (pure)."""
    low = name.lower()
    return "maximize" if any(word in low for word in _MAXIMIZE) else "minimize"


def compute_params(record: dict) -> dict[str, str]:
    """A run's parameters: its job inputs, then ``--name value`` pairs of its command line (pure)."""
    params: dict[str, str] = {}
    command = record.get("rendered_command") or ""
    try:
        argv = shlex.split(command) if isinstance(command, str) else [str(a) for a in command]
    except ValueError:
        argv = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg.startswith("--") and len(arg) > 2:
            key, eq, value = arg[2:].partition("=")
            if eq:
                params[key] = value
            elif i + 1 < len(argv) and not argv[i + 1].startswith("--"):
                params[key] = argv[i + 1]
                i += 1
            else:
                params[key] = "true"
        i += 1
    for key, value in (record.get("inputs") or {}).items():
        params[key] = value if isinstance(value, str) else str(value)
    return params


@dataclass
class Query:
    terms: list[tuple[str, ...]] = field(default_factory=list)
    sort: str = "created"
    descending: bool = True

    @classmethod
    def parse(cls, text: str, sort: str = "created", order: str = "desc") -> Query:
        try:
            words = shlex.split(text or "")
        except ValueError as exc:
            raise QueryError(f"filter {text!r}: {exc} (close the quote)") from None
        terms = [_parse_term(w) for w in words]
        if order not in ("asc", "desc"):
            raise QueryError(f"order {order!r}: use asc or desc")
        _check_sort(sort)
        return cls(terms, sort, order == "desc")

    @property
    def has_parent_filter(self) -> bool:
        return any(t[0] == "parent" for t in self.terms)

    def where(self) -> tuple[list[str], list]:
        clauses, args = [], []
        for term in self.terms:
            kind = term[0]
            if kind == "metric":
                _, name, agg, op, value = term
                column = {"best": _best_sql("m")}.get(agg, f"m.{agg}")
                clauses.append(f"EXISTS (SELECT 1 FROM metrics m WHERE m.run_id=runs.run_id AND m.name=? "
                               f"AND {column} {op} ?)")
                args += [name, value]
            elif kind == "param":
                _, key, op, value = term
                column = "p.num" if isinstance(value, float) else "p.value"
                clauses.append(f"EXISTS (SELECT 1 FROM params p WHERE p.run_id=runs.run_id AND p.key=? "
                               f"AND {column} {op} ?)")
                args += [key, value]
            elif kind == "tag":
                _, key, value = term
                extra = " AND t.value=?" if value is not None else ""
                clauses.append(f"EXISTS (SELECT 1 FROM tags t WHERE t.run_id=runs.run_id AND t.key=?{extra})")
                args += [key] + ([value] if value is not None else [])
            elif kind == "status":
                clauses.append("lower(runs.status)=lower(?)")
                args.append(term[1])
            elif kind == "exp":
                clauses.append("instr(lower(runs.experiment), lower(?)) > 0")
                args.append(term[1])
            elif kind in ("compute", "node", "parent"):
                clauses.append(f"runs.{kind}=?")
                args.append(term[1])
            else:
                clauses.append("(instr(lower(runs.run_id), lower(?)) > 0 OR "
                               "instr(lower(coalesce(runs.name, '')), lower(?)) > 0)")
                args += [term[1], term[1]]
        return clauses, args

    def order_by(self, now: float) -> tuple[str, str, list]:
        """(ORDER BY expression, JOIN clause, its arguments) for the sort key."""
        direction = "DESC" if self.descending else "ASC"
        nulls = "IS NULL"  # rows without the value go last either way
        key = self.sort
        if key in PLAIN_SORTS:
            col = PLAIN_SORTS[key]
            return f"{col} {nulls}, {col} {direction}, runs.run_id {direction}", "", []
        if key == "duration":
            col = f"(coalesce(runs.ended, {now!r}) - coalesce(runs.started, runs.created))"
            return f"{col} {direction}, runs.run_id {direction}", "", []
        family, name = key.split(".", 1)
        if family == "metrics":
            name, agg = _split_agg(name)
            col = _best_sql("sm") if agg == "best" else f"sm.{agg}"
            return (f"{col} {nulls}, {col} {direction}, runs.run_id {direction}",
                    "LEFT JOIN metrics sm ON sm.run_id=runs.run_id AND sm.name=?", [name])
        table = "params" if family == "params" else "tags"
        extra = ", sp.num " + direction if table == "params" else ""
        return (f"sp.value {nulls}{extra}, sp.value {direction}, runs.run_id {direction}",
                f"LEFT JOIN {table} sp ON sp.run_id=runs.run_id AND sp.key=?", [name])


def _best_sql(alias: str) -> str:
    words = " OR ".join(f"instr(lower({alias}.name), '{w}') > 0" for w in _MAXIMIZE)
    return f"(CASE WHEN {words} THEN {alias}.max ELSE {alias}.min END)"


def _split_agg(name: str) -> tuple[str, str]:
    head, _, tail = name.rpartition(".")
    return (head, tail) if head and tail in AGGS else (name, "last")


def _check_sort(sort: str) -> None:
    if sort in PLAIN_SORTS or sort == "duration":
        return
    family, dot, name = sort.partition(".")
    if not (dot and name and family in ("metrics", "params", "tags")):
        raise QueryError(f"cannot sort by {sort!r}: use one of {', '.join([*PLAIN_SORTS, 'duration'])}, "
                         "metrics.NAME[.last|.best|.min|.max], params.KEY or tags.KEY")


def _parse_term(word: str) -> tuple:
    m = _COMPARISON.match(word)
    if m:
        family, name, op, raw = m.groups()
        op = "=" if op == "=" else op
        if family == "metrics":
            try:
                value = float(raw)
            except ValueError:
                raise QueryError(f"filter term {word!r}: a metric compares with a number, e.g. "
                                 f"metrics.{name}>0.9") from None
            return ("metric", *_split_agg(name), op, value)
        number = _float_or_none(raw)
        if number is None and op not in ("=", "!="):
            raise QueryError(f"filter term {word!r}: {op} needs a number; text compares with = or !=")
        return ("param", name, op, number if number is not None else raw)
    prefix, colon, rest = word.partition(":")
    if colon and prefix in ("status", "exp", "experiment", "tag", "compute", "node", "parent"):
        if not rest:
            raise QueryError(f"filter term {word!r} has nothing after the colon")
        if prefix == "tag":
            key, eq, value = rest.partition("=")
            return ("tag", key, value if eq else None)
        return ("exp" if prefix == "experiment" else prefix, rest)
    if colon and prefix.isalpha():
        raise QueryError(f"filter term {word!r}: unknown prefix {prefix!r}; use status:, exp:, tag:, "
                         "compute:, node:, parent:, metrics.NAME>N or params.KEY=V")
    return ("text", word)


def _float_or_none(raw: str) -> float | None:
    try:
        return float(raw)
    except ValueError:
        return None
