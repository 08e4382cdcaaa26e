"""The registry half of the dashboard's JSON API: models, datasets, computes, services.

Shapes follow the CLI's ``--json``: ``models list``/``show``, ``datasets list``/``show``, ``compute list``/
``status``, ``services list``/``show``. Services go through the service library (``trainyard.service``): the
state is asked of the node, logs are read on the node, "try it" is ``Webservice.run`` (key added here).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse
from starlette.routing import Route

from ..compute import ComputeTarget
from ..dataset import Dataset
from ..errors import TrainyardError, WebserviceException
from ..inputs import dataset_registry
from ..model import Model
from ..preview import render_preview
from ..service import Webservice, list_services

LOG_LINES = 200


def _ws(request: Request):
    return request.app.state.workspace


def _deployments(ws) -> dict[str, list[str]]:
    """model id → names of the services deploying it (from the stored records; no node is asked)."""
    out: dict[str, list[str]] = {}
    for record in list_services(ws):
        for model_id in record.get("models") or []:
            out.setdefault(model_id, []).append(record["name"])
    return out


def list_models(request: Request) -> JSONResponse:
    """GET /api/models — every version (``models list --json``) with the services deploying it."""
    ws = _ws(request)
    deployed = _deployments(ws)
    return JSONResponse([{**m.serialize(), "id": m.id, "deployments": deployed.get(m.id, [])}
                         for m in Model.list(ws)])


def show_model(request: Request) -> JSONResponse:
    """GET /api/models/{name}/{version} — ``models show --json`` plus deployments."""
    ws = _ws(request)
    m = Model(ws, request.path_params["name"], request.path_params["version"])
    return JSONResponse({**m.serialize(), "id": m.id, "path": str(m.path),
                         "deployments": _deployments(ws).get(m.id, [])})


def list_datasets(request: Request) -> JSONResponse:
    """GET /api/datasets — the latest version of each (``datasets list --json``) and all its versions."""
    ws = _ws(request)
    registry = dataset_registry(ws.root)
    return JSONResponse([{**d._record, "id": d.id, "versions": registry.versions(d.name)} for d in Dataset.list(ws)])


def show_dataset(request: Request) -> JSONResponse:
    """GET /api/datasets/{name}/{version} — ``datasets show --json``: the record and its file list."""
    ds = Dataset.get_by_name(_ws(request), request.path_params["name"], request.path_params["version"])
    return JSONResponse({**ds._record, "id": ds.id, "paths": ds.to_path()})


async def dataset_preview(request: Request) -> FileResponse:
    """GET /datasets/{name}/{version}/preview.png — a grid of images with labels (MNIST, CIFAR-10),
    drawn once per dataset version and kept in the index folder."""
    ws = _ws(request)
    ds = Dataset.get_by_name(ws, request.path_params["name"], request.path_params["version"])
    dest = ws.root / "index" / "previews" / f"{ds._record['manifest']}.png"

    def draw() -> None:
        dest.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            ds.download(tmp)
            render_preview(Path(tmp), dest, 30, 0, f"{ds.id}: 30 random images")

    if not dest.is_file():
        await run_in_threadpool(draw)
    return FileResponse(dest, media_type="image/png")


def list_computes(request: Request) -> JSONResponse:
    """GET /api/computes — computes and nodes from the config (``compute list --json``), no connection."""
    return JSONResponse([t.get_status() for t in _ws(request).compute_targets.values()])


async def compute_status(request: Request) -> JSONResponse:
    """GET /api/computes/{name}/status — connects to every node (``compute status --json``)."""
    target = ComputeTarget(_ws(request), request.path_params["name"])
    return JSONResponse(await run_in_threadpool(target.describe_nodes))


def _service(request: Request) -> Webservice | JSONResponse:
    """The service named in the path, or a 404 answer naming the deployed ones."""
    try:
        return Webservice(_ws(request), request.path_params["name"])
    except WebserviceException as exc:
        return JSONResponse({"error": str(exc)}, status_code=404)


def _describe(service: Webservice) -> dict:
    """The stored record (never the keys) with the state, reason and restarts asked of the node now."""
    service.refresh()
    return {**service.serialize(), "auth_enabled": service.auth_enabled}


async def list_services_api(request: Request) -> JSONResponse:
    """GET /api/services — every service (``services list --json``): state and restarts from its node."""
    found = await run_in_threadpool(lambda: [_describe(s) for s in Webservice.list(_ws(request))])
    return JSONResponse(found)


async def show_service(request: Request) -> JSONResponse:
    """GET /api/services/{name} — ``services show --json`` plus the tail of the server log (from the node)."""
    service = _service(request)
    if isinstance(service, JSONResponse):
        return service

    def describe() -> dict:
        out = _describe(service)
        try:
            out["log_tail"] = service.get_logs(num_lines=LOG_LINES)
        except TrainyardError as exc:
            out["log_tail"], out["log_error"] = "", str(exc)
        return out

    return JSONResponse(await run_in_threadpool(describe))


async def score_service(request: Request) -> JSONResponse:
    """POST /api/services/{name}/score — ``Webservice.run`` with the posted JSON ("try it"): the key, when the
    service has auth, is added here and never reaches the page; a pool node without ``service_address`` is
    reached over a forward this process keeps. 502 with the service's answer when it refuses."""
    service = _service(request)
    if isinstance(service, JSONResponse):
        return service
    body = await request.body()
    try:
        answer = await run_in_threadpool(service.run, body)
    except WebserviceException as exc:
        return JSONResponse({"error": str(exc)}, status_code=502)
    return JSONResponse({"response": answer})


ROUTES = [
    Route("/api/models", list_models), Route("/api/models/{name}/{version}", show_model),
    Route("/api/datasets", list_datasets), Route("/api/datasets/{name}/{version}", show_dataset),
    Route("/datasets/{name}/{version}/preview.png", dataset_preview),
    Route("/api/computes", list_computes), Route("/api/computes/{name}/status", compute_status),
    Route("/api/services", list_services_api), Route("/api/services/{name}", show_service),
    Route("/api/services/{name}/score", score_service, methods=["POST"]),
]
