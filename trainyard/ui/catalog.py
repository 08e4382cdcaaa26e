"""The registry half of the dashboard's JSON API: models, datasets, computes, services.

Shapes follow the CLI's ``--json``: ``models list``/``show``, ``datasets list``/``show``, ``compute list``/
``status``. Services are read from ``<root>/services/<name>/service.json`` (written by deployments).
"""

from __future__ import annotations

import json
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse
from starlette.routing import Route

from trainers._atomic import read_json

from ..compute import ComputeTarget
from ..dataset import Dataset
from ..errors import QueryError, TrainyardError
from ..inputs import dataset_registry
from ..model import Model
from ..preview import render_preview

SCORE_TIMEOUT = 30


def _ws(request: Request):
    return request.app.state.workspace


def load_services(root: Path) -> list[dict]:
    """Every ``services/<name>/service.json`` under the workspace root, by name."""
    base = Path(root) / "services"
    found = []
    for d in sorted(base.iterdir()) if base.is_dir() else []:
        record = read_json(d / "service.json")
        if isinstance(record, dict):
            found.append({"name": d.name, **record})
    return found


def _deployments(root: Path) -> dict[str, list[str]]:
    """model id → names of the services deploying it."""
    out: dict[str, list[str]] = {}
    for s in load_services(root):
        for m in s.get("models") or ([s["model"]] if s.get("model") else []):
            out.setdefault(m if isinstance(m, str) else str(m.get("id")), []).append(s["name"])
    return out


def list_models(request: Request) -> JSONResponse:
    """GET /api/models — every version (``models list --json``) with the services deploying it."""
    ws = _ws(request)
    deployed = _deployments(ws.root)
    return JSONResponse([{**m.serialize(), "id": m.id, "deployments": deployed.get(m.id, [])}
                         for m in Model.list(ws)])


def show_model(request: Request) -> JSONResponse:
    """GET /api/models/{name}/{version} — ``models show --json`` plus deployments."""
    ws = _ws(request)
    m = Model(ws, request.path_params["name"], request.path_params["version"])
    return JSONResponse({**m.serialize(), "id": m.id, "path": str(m.path),
                         "deployments": _deployments(ws.root).get(m.id, [])})


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


def list_services(request: Request) -> JSONResponse:
    """GET /api/services — every deployed service's record, with the tail of its log when it has one."""
    out = []
    for s in load_services(_ws(request).root):
        log = Path(_ws(request).root) / "services" / s["name"] / "logs"
        tails = {p.name: p.read_bytes()[-8192:].decode(errors="replace") for p in sorted(log.glob("*.log"))} \
            if log.is_dir() else {}
        out.append({**s, "log_tail": tails})
    return JSONResponse(out)


async def score_service(request: Request) -> JSONResponse:
    """POST /api/services/{name}/score — forwards a JSON body to the service's scoring URI ("try it")."""
    name = request.path_params["name"]
    found = {s["name"]: s for s in load_services(_ws(request).root)}
    if name not in found:
        raise QueryError(f"no service {name!r}; deployed: {', '.join(found) or 'none'}")
    uri = found[name].get("scoring_uri")
    if not uri:
        raise QueryError(f"service {name!r} has no scoring_uri yet (state {found[name].get('state')})")
    body = await request.body()

    def post() -> tuple[int, str]:
        req = urllib.request.Request(uri, data=body, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=SCORE_TIMEOUT) as resp:  # noqa: S310 - the service's URI
                return resp.status, resp.read().decode(errors="replace")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(errors="replace")
        except OSError as exc:
            raise TrainyardError(f"service {name!r} at {uri} did not answer: {exc}") from exc

    status, text = await run_in_threadpool(post)
    try:
        payload = json.loads(text)
    except json.JSONDecodeError:
        payload = text
    return JSONResponse({"status": status, "response": payload})


ROUTES = [
    Route("/api/models", list_models), Route("/api/models/{name}/{version}", show_model),
    Route("/api/datasets", list_datasets), Route("/api/datasets/{name}/{version}", show_dataset),
    Route("/datasets/{name}/{version}/preview.png", dataset_preview),
    Route("/api/computes", list_computes), Route("/api/computes/{name}/status", compute_status),
    Route("/api/services", list_services), Route("/api/services/{name}/score", score_service, methods=["POST"]),
]
