"""A SQLite cache of the run store for the dashboard, rebuilt from the files (which stay the truth).

Runs are read with ``RunStore.load`` and metrics with ``load_records_from``; the index keeps, per run,
the record's mtime and how far into ``metrics.jsonl`` it has read, so a refresh stats each run and reads
only what changed. Numeric series are kept as float64 blobs so a chart never re-parses a large file.
Deleting ``<root>/index/`` loses nothing: the next start rebuilds it.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from array import array
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

from trainers.status import TERMINAL

from ..metrics import Series, accumulate_series, compute_tags, load_records_from
from ..runstore import RunStore
from ..tracker import METRICS
from .query import Query, compute_params, metric_goal

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs(run_id TEXT PRIMARY KEY, experiment TEXT, status TEXT, reason TEXT, name TEXT,
  created REAL, started REAL, ended REAL, compute TEXT, node TEXT, parent TEXT, model_id TEXT,
  record_mtime INTEGER, metrics_offset INTEGER, logged_tags TEXT);
CREATE INDEX IF NOT EXISTS runs_created ON runs(created);
CREATE INDEX IF NOT EXISTS runs_parent ON runs(parent, created);
CREATE TABLE IF NOT EXISTS params(run_id TEXT, key TEXT, value TEXT, num REAL, PRIMARY KEY(run_id, key));
CREATE INDEX IF NOT EXISTS params_kv ON params(key, value);
CREATE TABLE IF NOT EXISTS tags(run_id TEXT, key TEXT, value TEXT, PRIMARY KEY(run_id, key));
CREATE INDEX IF NOT EXISTS tags_kv ON tags(key, value);
CREATE TABLE IF NOT EXISTS metrics(run_id TEXT, name TEXT, last REAL, min REAL, max REAL, count INTEGER,
  PRIMARY KEY(run_id, name));
CREATE INDEX IF NOT EXISTS metrics_name ON metrics(name, last);
CREATE TABLE IF NOT EXISTS extras(run_id TEXT, name TEXT, kind TEXT, value TEXT, seq INTEGER);
CREATE INDEX IF NOT EXISTS extras_run ON extras(run_id, name);
CREATE TABLE IF NOT EXISTS series(run_id TEXT, name TEXT, steps BLOB, vals BLOB, times BLOB,
  PRIMARY KEY(run_id, name));
"""
BATCH = 200  # runs ingested per transaction (the lock is released between batches)
VERSION = 2  # bump when SCHEMA changes: an older index is dropped and rebuilt


def _blob(values: list[float]) -> bytes:
    return array("d", values).tobytes()


def _floats(blob: bytes | None) -> array:
    """A float64 blob as an array (a copy of the bytes, no Python float per value)."""
    a = array("d")
    if blob:
        a.frombytes(blob)
    return a


class RunIndex:
    """The dashboard's view of the run store: ``refresh`` brings it up to date, ``query`` lists runs."""

    def __init__(self, store: RunStore, path: Path | None = None):
        self.store = store
        self.path = path or store.root / "index" / "ui.sqlite3"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        if self._db.execute("PRAGMA user_version").fetchone()[0] != VERSION:
            for (table,) in self._db.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall():
                self._db.execute(f"DROP TABLE {table}")
            self._db.execute(f"PRAGMA user_version={VERSION}")
        self._db.executescript(SCHEMA)
        self._refreshed = 0.0

    def close(self) -> None:
        self._db.close()

    # -- keeping up with the files ----------------------------------------------------------------
    def refresh(self, progress: Callable[[int, int], None] | None = None, max_age: float = 0.0) -> int:
        """Re-read the runs whose record or metrics changed (at most every ``max_age`` seconds); returns
        how many were read. Runs whose directory is gone leave the index. The stat pass runs without the
        lock and changes are written in batches, so pages keep answering from the index meanwhile."""
        with self._lock:
            if time.monotonic() - self._refreshed < max_age:
                return 0
            self._refreshed = time.monotonic()
            known = {rid: (mtime, off) for rid, mtime, off in
                     self._db.execute("SELECT run_id, record_mtime, metrics_offset FROM runs")}
        changed, seen = [], set()
        for path in self.store.scan_run_dirs():
            try:
                mtime = os.stat(path + "/run.json").st_mtime_ns
            except OSError:
                continue
            run_id = os.path.basename(path)
            seen.add(run_id)
            try:
                size = os.stat(path + "/" + METRICS).st_size
            except OSError:
                size = 0
            old = known.get(run_id)
            if old is None or old[0] != mtime or old[1] != size:
                changed.append(run_id)
        gone = [rid for rid in known if rid not in seen]
        for start in range(0, max(len(changed), 1), BATCH):
            with self._lock, self._transaction():
                if start == 0:
                    for rid in gone:
                        self._forget(rid)
                for rid in changed[start:start + BATCH]:
                    self._ingest(rid, self._position(rid))
            if progress and changed:
                progress(min(start + BATCH, len(changed)), len(changed))
        return len(changed)

    @contextmanager
    def _transaction(self):
        self._db.execute("BEGIN")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _position(self, run_id: str) -> tuple[int, int] | None:
        row = self._db.execute("SELECT record_mtime, metrics_offset FROM runs WHERE run_id=?", (run_id,)).fetchone()
        return tuple(row) if row else None

    def _forget(self, run_id: str) -> None:
        for table in ("runs", "params", "tags", "metrics", "series", "extras"):
            self._db.execute(f"DELETE FROM {table} WHERE run_id=?", (run_id,))

    def _ingest(self, run_id: str, old: tuple[int, int] | None) -> None:
        try:
            record = self.store.load(run_id)
        except Exception:  # a torn or foreign record: the next refresh tries again  # noqa: BLE001
            return
        run_dir = self.store.run_dir(run_id)
        mtime = os.stat(run_dir / "run.json").st_mtime_ns
        offset = old[1] if old else 0
        try:
            size = os.stat(run_dir / METRICS).st_size
        except OSError:
            size = 0
        if size < offset:  # the file was replaced: start over
            offset = 0
            self._db.execute("DELETE FROM series WHERE run_id=?", (run_id,))
            self._db.execute("DELETE FROM metrics WHERE run_id=?", (run_id,))
            self._db.execute("DELETE FROM extras WHERE run_id=?", (run_id,))
        row = self._db.execute("SELECT logged_tags FROM runs WHERE run_id=?", (run_id,)).fetchone()
        logged_tags = json.loads(row[0]) if row and offset else {}
        records, new_offset = load_records_from(run_dir / METRICS, offset)
        if records:
            logged_tags.update(compute_tags(records))
            self._add_series(run_id, records)
            self._add_extras(run_id, records)
        node = record.get("node") or {}
        self._db.execute(
            "INSERT OR REPLACE INTO runs VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (run_id, record.get("experiment"), record.get("status"), record.get("status_reason"),
             record.get("display_name"),
             record.get("created"), record.get("started"), record.get("ended"), record.get("compute"),
             node.get("name") if isinstance(node, dict) else str(node), record.get("parent"),
             record.get("model_id"), mtime, new_offset,
             json.dumps(logged_tags)))
        self._db.execute("DELETE FROM params WHERE run_id=?", (run_id,))
        self._db.executemany("INSERT INTO params VALUES(?,?,?,?)",
                             [(run_id, k, v, _number(v)) for k, v in compute_params(record).items()])
        self._db.execute("DELETE FROM tags WHERE run_id=?", (run_id,))
        tags = {**logged_tags, **(record.get("tags") or {})}
        self._db.executemany("INSERT INTO tags VALUES(?,?,?)", [(run_id, k, str(v)) for k, v in tags.items()])

    def _add_series(self, run_id: str, records: list[dict]) -> None:
        names = sorted({str(r.get("name")) for r in records if r.get("kind") == "scalar"})
        series: dict[str, Series] = {}
        for chunk in (names[i:i + 500] for i in range(0, len(names), 500)):
            marks = ",".join("?" * len(chunk))
            for name, steps, vals, times in self._db.execute(
                    f"SELECT name, steps, vals, times FROM series WHERE run_id=? AND name IN ({marks})",
                    (run_id, *chunk)):
                series[name] = Series(_floats(steps).tolist(), _floats(vals).tolist(), _floats(times).tolist())
        before = {k: len(s.values) for k, s in series.items()}
        accumulate_series(series, records)
        for name, s in series.items():
            if before.get(name) == len(s.values) and name in before:
                continue
            self._db.execute("INSERT OR REPLACE INTO series VALUES(?,?,?,?,?)",
                             (run_id, name, _blob(s.steps), _blob(s.values), _blob(s.times)))
            self._db.execute("INSERT OR REPLACE INTO metrics VALUES(?,?,?,?,?,?)",
                             (run_id, name, s.values[-1], min(s.values), max(s.values), len(s.values)))

    def _add_extras(self, run_id: str, records: list[dict]) -> None:
        """Images (all of them) and the latest value of every metric that is not a number series."""
        for r in records:
            kind, value = r.get("kind"), r.get("value")
            if kind == "image":
                self._db.execute("INSERT INTO extras VALUES(?,?,?,?,?)", (run_id, r.get("name"), kind,
                                                                         json.dumps(value), time.time_ns()))
            elif kind in ("confusion_matrix", "list", "row", "table") or (
                    kind == "scalar" and not isinstance(value, (int, float))):
                self._db.execute("DELETE FROM extras WHERE run_id=? AND name=? AND kind=?",
                                 (run_id, r.get("name"), kind))
                self._db.execute("INSERT INTO extras VALUES(?,?,?,?,?)", (run_id, r.get("name"), kind,
                                                                         json.dumps(value), time.time_ns()))

    def refresh_run(self, run_id: str) -> None:
        """Bring one run up to date now (the live view of a run page)."""
        with self._lock, self._transaction():
            self._ingest(run_id, self._position(run_id))

    # -- reading -----------------------------------------------------------------------------------
    def series(self, run_id: str, name: str) -> Series | None:
        """One numeric series, its steps, values and times as float64 arrays (read-only use)."""
        with self._lock:
            row = self._db.execute("SELECT steps, vals, times FROM series WHERE run_id=? AND name=?",
                                   (run_id, name)).fetchone()
        return Series(*(_floats(b) for b in row)) if row else None

    def series_names(self, run_id: str) -> list[dict]:
        with self._lock:
            return [{"name": n, "count": c, "last": last, "min": lo, "max": hi} for n, c, last, lo, hi in
                    self._db.execute("SELECT name, count, last, min, max FROM metrics WHERE run_id=? "
                                     "ORDER BY name", (run_id,))]

    def extras(self, run_id: str) -> list[dict]:
        with self._lock:
            return [{"name": n, "kind": k, "value": json.loads(v)} for n, k, v in self._db.execute(
                "SELECT name, kind, value FROM extras WHERE run_id=? ORDER BY seq", (run_id,))]

    def rows(self, run_ids: list[str]) -> list[dict]:
        """Table rows (params, tags, metric summaries) of these runs, in the order given."""
        with self._lock:
            marks = ",".join("?" * len(run_ids))
            cur = self._db.execute(f"SELECT * FROM runs WHERE run_id IN ({marks})", run_ids)
            cols = [d[0] for d in cur.description]
            found = {r[0]: self._row(dict(zip(cols, r, strict=True))) for r in cur.fetchall()}
            runs = [found[r] for r in run_ids if r in found]
            self._attach(runs)
        return runs

    def active_run_ids(self) -> list[str]:
        with self._lock:
            marks = ",".join("?" * len(TERMINAL))
            return [r for (r,) in self._db.execute(
                f"SELECT run_id FROM runs WHERE status NOT IN ({marks})", tuple(TERMINAL))]

    def query(self, q: str = "", sort: str = "created", order: str = "desc", page: int = 1,
              per_page: int = 50, parent: str | None = None) -> dict:
        """One page of runs matching the filter ``q``; top-level runs unless ``parent`` is given (then its
        children, the best one marked)."""
        query = Query.parse(q, sort, order)
        with self._lock:
            where, args = query.where()
            if parent is None and not query.has_parent_filter:
                where.append("runs.parent IS NULL")
            elif parent is not None:
                where.append("runs.parent = ?")
                args.append(parent)
            clause = ("WHERE " + " AND ".join(where)) if where else ""
            total = self._db.execute(f"SELECT COUNT(*) FROM runs {clause}", args).fetchone()[0]
            order_sql, join, join_args = query.order_by(time.time())
            page = max(1, page)
            rows = self._db.execute(
                f"SELECT runs.* FROM runs {join} {clause} ORDER BY {order_sql} LIMIT ? OFFSET ?",
                [*join_args, *args, per_page, (page - 1) * per_page]).fetchall()
            cols = [d[0] for d in self._db.execute("SELECT * FROM runs LIMIT 0").description]
            runs = [self._row(dict(zip(cols, r, strict=True))) for r in rows]
            self._attach(runs)
            metric_names = [n for (n,) in self._db.execute(
                "SELECT name FROM metrics GROUP BY name ORDER BY COUNT(*) DESC, name LIMIT 500")]
        if parent is not None:
            mark_best(runs, self._primary_metric(parent))
        return {"total": total, "page": page, "per_page": per_page, "sort": sort, "order": order, "q": q,
                "runs": runs, "metric_names": metric_names}

    def _primary_metric(self, parent: str) -> dict | None:
        try:
            record = self.store.load(parent)
        except Exception:  # noqa: BLE001
            return None
        return primary_metric(record)

    @staticmethod
    def _row(r: dict) -> dict:
        end = r["ended"] or (None if r["status"] in TERMINAL else time.time())
        start = r["started"] or r["created"]
        return {"run_id": r["run_id"], "experiment": r["experiment"], "status": r["status"],
                "status_reason": r["reason"],
                "display_name": r["name"], "created": r["created"], "started": r["started"],
                "ended": r["ended"], "duration": (end - start) if end and start else None,
                "compute": r["compute"], "node": r["node"], "parent": r["parent"], "model_id": r["model_id"]}

    def _attach(self, runs: list[dict]) -> None:
        """Params, tags, metric summaries and child counts for one page of runs."""
        if not runs:
            return
        by_id = {r["run_id"]: r for r in runs}
        for r in runs:
            r.update(params={}, tags={}, metrics={}, children=0)
        marks = ",".join("?" * len(by_id))
        ids = tuple(by_id)
        for rid, k, v in self._db.execute(f"SELECT run_id, key, value FROM params WHERE run_id IN ({marks})", ids):
            by_id[rid]["params"][k] = v
        for rid, k, v in self._db.execute(f"SELECT run_id, key, value FROM tags WHERE run_id IN ({marks})", ids):
            by_id[rid]["tags"][k] = v
        for rid, name, last, lo, hi, count in self._db.execute(
                f"SELECT run_id, name, last, min, max, count FROM metrics WHERE run_id IN ({marks})", ids):
            best = hi if metric_goal(name) == "maximize" else lo
            by_id[rid]["metrics"][name] = {"last": last, "min": lo, "max": hi, "best": best, "count": count}
        for rid, n in self._db.execute(
                f"SELECT parent, COUNT(*) FROM runs WHERE parent IN ({marks}) GROUP BY parent", ids):
            by_id[rid]["children"] = n


def primary_metric(record: dict) -> dict | None:
    """The metric a parent run (a sweep) optimises: ``{"name", "goal"}`` from its record's ``hyperdrive``
    settings (``primary_metric_name``/``_goal``), ``primary_metric``, or v1's ``primary_metric_config``
    property, else None (pure)."""
    sweep = record.get("hyperdrive") or {}
    found = ({"name": sweep.get("primary_metric_name"), "goal": sweep.get("primary_metric_goal")}
             if sweep.get("primary_metric_name") else None) or record.get("primary_metric") or \
        (record.get("properties") or {}).get("primary_metric_config")
    if isinstance(found, str):
        try:
            found = json.loads(found)
        except json.JSONDecodeError:
            return None
    if not isinstance(found, dict) or not found.get("name"):
        return None
    goal = str(found.get("goal") or metric_goal(found["name"])).lower()
    return {"name": found["name"], "goal": "minimize" if goal.startswith("min") else "maximize"}


def mark_best(runs: list[dict], primary: dict | None) -> None:
    """Set ``best: True`` on the run with the best primary metric (else the best of the first metric the
    runs share), in place (pure apart from that)."""
    if not runs:
        return
    if primary is None:
        shared = set.intersection(*(set(r["metrics"]) for r in runs)) if runs else set()
        if not shared:
            return
        name = sorted(shared)[0]
        primary = {"name": name, "goal": metric_goal(name)}
    scored = [r for r in runs if primary["name"] in r["metrics"]]
    if not scored:
        return
    pick = max if primary["goal"] == "maximize" else min
    best = pick(scored, key=lambda r: r["metrics"][primary["name"]]["best"])
    best["best"] = True
    for r in runs:
        r["primary_metric"] = primary["name"]


def _number(value: str) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
