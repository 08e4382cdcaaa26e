"""The runs half of the dashboard's JSON API (documented in README: "Dashboard API").

Everything reads the store through the library (``Run``, ``RunStore``, the index built from them) and
writes only through it (``Run.cancel``, ``Run.tag``).
"""

from __future__ import annotations

import asyncio
import json
import mimetypes
import threading
import time

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from trainers._atomic import read_json
from trainers.status import TERMINAL

from ..errors import DatasetError, QueryError, RegistryError, RunError, TrainyardError, WorkspaceError
from ..run import Run
from .chart import MAX_POINTS, compute_chart
from .index import RunIndex, primary_metric

LOG_CHUNK = 256 * 1024  # most log bytes one request or event carries
TEXT_PREVIEW = 512 * 1024


def _index(request: Request) -> RunIndex:
    return request.app.state.index


def _run(request: Request) -> Run:
    return Run(request.app.state.workspace, request.path_params["run_id"])


def _int(request: Request, name: str, default: int) -> int:
    try:
        return int(request.query_params.get(name, default))
    except ValueError:
        raise QueryError(f"{name} must be a whole number") from None


def list_runs(request: Request) -> JSONResponse:
    """GET /api/runs?q=&sort=&order=&page=&per_page=&parent= — one page of the runs table, from the
    index (kept fresh by the background refresh, every ``sync_interval`` seconds)."""
    index = _index(request)
    p = request.query_params
    return JSONResponse(index.query(p.get("q", ""), p.get("sort", "created"), p.get("order", "desc"),
                                    _int(request, "page", 1), min(500, _int(request, "per_page", 50)),
                                    p.get("parent") or None))


def show_run(request: Request) -> JSONResponse:
    """GET /api/runs/{id} — ``runs show --json`` without the metric values (summaries instead), plus
    children, environment packages, snapshot files and images."""
    run = _run(request)
    index = _index(request)
    index.refresh_run(run.id)
    r = run.record
    row = (index.rows([run.id]) or [{}])[0]
    snapshot = read_json(run.run_dir / "snapshot.json") or {}
    packages = run.run_dir / "logs" / "environment_packages.txt"
    extras = index.extras(run.id)
    return JSONResponse({
        "runId": run.id, "experiment": r["experiment"], "status": r["status"],
        "statusReason": r.get("status_reason"), "displayName": r.get("display_name"),
        "description": r.get("description"), "target": r.get("compute"), "node": r.get("node"),
        "created": r.get("created"), "started": r.get("started"), "ended": r.get("ended"),
        "duration": row.get("duration"), "history": r.get("history", []), "tags": row.get("tags", {}),
        "properties": r.get("properties", {}), "params": row.get("params", {}),
        "command": r.get("rendered_command") or r.get("command"), "environment": r.get("environment"),
        "packages": packages.read_text(errors="replace").splitlines() if packages.is_file() else [],
        "snapshot": {k: v for k, v in snapshot.items() if k != "files"},
        "snapshotFiles": snapshot.get("files", []), "exitCode": r.get("exit_code"), "signal": r.get("signal"),
        "modelId": r.get("model_id"), "registrationError": r.get("registration_error"),
        "rejectedOutputs": r.get("rejected_outputs", []), "parent": r.get("parent"),
        "primaryMetric": primary_metric(r), "metrics": index.series_names(run.id),
        "extras": [e for e in extras if e["kind"] != "image"],
        "images": [e for e in extras if e["kind"] == "image"], "children": row.get("children", 0),
        "files": run.get_file_names(), "portalUrl": run.get_portal_url(),
    })


def metric_series(request: Request) -> JSONResponse:
    """GET /api/runs/{id}/metrics/{name}?max_points=&x0=&x1=&x=step|time — one series, downsampled."""
    index = _index(request)
    run_id, name = request.path_params["run_id"], request.path_params["name"]
    series = index.series(run_id, name)
    if series is None:
        index.refresh_run(run_id)
        series = index.series(run_id, name)
    if series is None:
        raise RunError(f"run {run_id} has no numeric metric {name!r}", run_id)
    p = request.query_params
    bound = {k: float(p[k]) for k in ("x0", "x1") if p.get(k) not in (None, "")}
    return JSONResponse({"run_id": run_id, "name": name,
                         **compute_chart(series, min(MAX_POINTS, _int(request, "max_points", MAX_POINTS)),
                                         bound.get("x0"), bound.get("x1"), p.get("x", "step"))})


def read_log(request: Request) -> JSONResponse:
    """GET /api/runs/{id}/log?file=std_log.txt&offset=N — log bytes from N (negative: the last -N)."""
    run = _run(request)
    return JSONResponse(_log_chunk(run, request.query_params.get("file", "std_log.txt"),
                                   _int(request, "offset", -LOG_CHUNK)))


def _log_chunk(run: Run, name: str, offset: int) -> dict:
    rel = f"logs/{name}"
    if rel not in run.get_file_names():
        return {"text": "", "offset": 0, "size": 0}
    path = run.run_dir / rel
    size = path.stat().st_size
    start = max(0, size + offset) if offset < 0 else min(offset, size)
    with open(path, "rb") as fh:
        fh.seek(start)
        data = fh.read(LOG_CHUNK)
    return {"text": data.decode(errors="replace"), "offset": start + len(data), "size": size}


def run_file(request: Request) -> Response:
    """GET /runs/{id}/files/{path} — a file of outputs/ or logs/ (``?download=1`` as an attachment)."""
    run = _run(request)
    rel = request.path_params["path"]
    if rel not in run.get_file_names():
        raise RunError(f"run {run.id} has no file {rel!r}", run.id)
    path = run.run_dir / rel
    media = mimetypes.guess_type(rel)[0] or "application/octet-stream"
    if rel.endswith((".log", ".txt", ".csv", ".jsonl", ".json", ".yml", ".yaml", ".md", ".py")):
        media = "text/plain; charset=utf-8"
    if request.query_params.get("download"):
        return FileResponse(path, filename=path.name)
    return FileResponse(path, media_type=media)


async def run_events(request: Request) -> StreamingResponse:
    """GET /api/runs/{id}/events?file=std_log.txt&offset=N — server-sent events while the run is active:
    status, metric counts and new log text; the last event has ``"final": true``."""
    run = _run(request)
    index = _index(request)
    name = request.query_params.get("file", "std_log.txt")
    offset = _int(request, "offset", 0)

    def step(wait: float) -> dict:
        nonlocal offset
        if run.status not in TERMINAL:
            try:
                run.refresh(wait=wait)
            except TrainyardError as exc:
                return {"error": str(exc), "status": run.status}
        index.refresh_run(run.id)
        r = run.record
        chunk = _log_chunk(run, name, offset)
        offset = chunk["offset"] if chunk["size"] else offset
        return {"status": r["status"], "reason": r.get("status_reason"), "log": chunk["text"],
                "offset": offset, "counts": {m["name"]: m["count"] for m in index.series_names(run.id)},
                "final": r["status"] in TERMINAL}

    async def stream():
        while True:
            event = await run_in_threadpool(step, 0.5)
            yield f"data: {json.dumps(event)}\n\n"
            if event.get("final") or await request.is_disconnected():
                return
            await asyncio.sleep(0.5)

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


def cancel_run(request: Request) -> JSONResponse:
    """POST /api/runs/{id}/cancel — ask the node to stop the run (as `trainyard runs cancel --no-wait`)."""
    return JSONResponse({"run_id": request.path_params["run_id"], "status": _run(request).cancel()})


async def tag_run(request: Request) -> JSONResponse:
    """POST /api/runs/{id}/tags with ``{"key": …, "value": …}`` — set a tag (as ``run.tag``)."""
    body = await request.json()
    if not isinstance(body, dict) or not str(body.get("key") or "").strip():
        raise QueryError('send {"key": "...", "value": "..."}: the tag needs a key')
    run = _run(request)
    await run_in_threadpool(run.tag, str(body["key"]).strip(), body.get("value"))
    _index(request).refresh_run(run.id)
    return JSONResponse({"run_id": run.id, "tags": run.get_tags()})


def compare(request: Request) -> JSONResponse:
    """GET /api/compare?runs=A,B,… — rows, the parameters that differ, and the metrics they share."""
    ids = [r for r in request.query_params.get("runs", "").split(",") if r]
    if not ids:
        raise QueryError("name the runs to compare: /compare?runs=RUN_ID,RUN_ID")
    index = _index(request)
    for run_id in ids:
        index.refresh_run(run_id)
    rows = index.rows(ids)
    missing = [r for r in ids if r not in {row["run_id"] for row in rows}]
    if missing:
        raise RunError(f"no run {missing[0]!r} in this workspace", missing[0])
    keys = sorted({k for r in rows for k in r["params"]})
    differ = {k: {r["run_id"]: r["params"].get(k) for r in rows} for k in keys
              if len({r["params"].get(k) for r in rows}) > 1}
    parents = {r["parent"] for r in rows}
    primary = None
    if len(parents) == 1 and None not in parents:
        primary = index._primary_metric(parents.pop())
    names = sorted({n for r in rows for n, m in r["metrics"].items() if m["count"] > 1})
    return JSONResponse({"runs": rows, "param_diff": differ, "series": names,
                         "metric_names": sorted({n for r in rows for n in r["metrics"]}),
                         "primary_metric": primary})


def sync_active_runs(app, stop: threading.Event) -> None:
    """Keep the index fresh and active runs in step with their nodes (so a run nobody follows still
    ends, or shows NotResponding), every ``sync_interval`` seconds, or four times as long as a round
    took (a store of many runs on a slow disk is not stat-ed back to back), until ``stop``."""
    settings = app.state.settings
    pause = settings.sync_interval
    while not stop.wait(pause):
        started = time.monotonic()
        index: RunIndex = app.state.index
        try:
            index.refresh()
            for run_id in index.active_run_ids():
                if stop.is_set():
                    return
                try:
                    Run(settings.workspace, run_id).refresh()
                except Exception:  # a node down is the run's status, shown by the index  # noqa: BLE001
                    continue
        except Exception:  # noqa: BLE001 - keep the loop alive; the next round retries
            pass
        pause = max(settings.sync_interval, 4 * (time.monotonic() - started))


async def _error(request: Request, exc: Exception) -> JSONResponse:
    status = 400 if isinstance(exc, QueryError) else \
        404 if isinstance(exc, (RunError, RegistryError, DatasetError, WorkspaceError)) else 500
    return JSONResponse({"error": str(exc)}, status_code=status)


EXCEPTION_HANDLERS = {TrainyardError: _error}
ROUTES = [
    Route("/api/runs", list_runs), Route("/api/runs/{run_id}", show_run),
    Route("/api/runs/{run_id}/metrics/{name:path}", metric_series), Route("/api/runs/{run_id}/log", read_log),
    Route("/api/runs/{run_id}/events", run_events), Route("/runs/{run_id}/files/{path:path}", run_file),
    Route("/api/runs/{run_id}/cancel", cancel_run, methods=["POST"]),
    Route("/api/runs/{run_id}/tags", tag_run, methods=["POST"]), Route("/api/compare", compare),
]
