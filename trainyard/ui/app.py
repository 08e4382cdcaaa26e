"""The dashboard's web application (Starlette): pages, the JSON API, access control.

Access: bound to loopback, requests must name a loopback host (no DNS rebinding); bound elsewhere,
every request needs the token printed in the URL (kept in a cookie after the first visit, or sent as
``Authorization: token …``). State-changing requests are POSTs carrying ``X-CSRF-Token`` (the pages
read it from a meta tag; scripts from ``GET /api/csrf``).
"""

from __future__ import annotations

import hmac
import secrets
import threading
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from trainers.status import TERMINAL

from ..runstore import RunStore
from ..workspace import Workspace
from . import api, catalog
from .index import RunIndex

HERE = Path(__file__).parent
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}
TOKEN_COOKIE = "trainyard_token"
PAGES = {"/": "runs.html", "/compare": "compare.html", "/models": "catalog.html", "/datasets": "catalog.html",
         "/computes": "catalog.html", "/services": "catalog.html"}


@dataclass
class Settings:
    workspace: Workspace
    token: str | None = None  # required when not bound to loopback
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    loopback: bool = True
    sync_interval: float = 2.0  # seconds between syncs of active runs with their nodes


class Access(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next):
        s: Settings = request.app.state.settings
        host = (request.headers.get("host") or "").rsplit(":", 1)[0]
        if s.loopback and host not in LOOPBACK_HOSTS:
            return PlainTextResponse(f"host {host!r} refused: this dashboard serves loopback names only",
                                     status_code=403)
        if s.token:
            given = request.query_params.get("token")
            if given and hmac.compare_digest(given, s.token) and request.method == "GET":
                query = "&".join(f"{k}={v}" for k, v in request.query_params.multi_items() if k != "token")
                resp = RedirectResponse(request.url.path + (f"?{query}" if query else ""), status_code=303)
                resp.set_cookie(TOKEN_COOKIE, s.token, httponly=True, samesite="strict")
                return resp
            header = request.headers.get("authorization", "")
            offered = request.cookies.get(TOKEN_COOKIE) or (header[6:] if header.startswith("token ") else "")
            if not hmac.compare_digest(offered, s.token):
                return PlainTextResponse("this dashboard needs its token: open the URL `trainyard ui` printed "
                                         "(it ends in ?token=…), or send `Authorization: token …`",
                                         status_code=403)
        if request.method not in ("GET", "HEAD"):
            if not hmac.compare_digest(request.headers.get("x-csrf-token", ""), s.csrf):
                return JSONResponse({"error": "missing or wrong X-CSRF-Token header: reload the page, or "
                                              "GET /api/csrf and send its token"}, status_code=403)
        return await call_next(request)


def create_app(workspace: Workspace, token: str | None = None, loopback: bool = True,
               sync_interval: float = 2.0) -> Starlette:
    """The dashboard for ``workspace``. The run index is refreshed on start and as pages ask."""
    settings = Settings(workspace, token, loopback=loopback, sync_interval=sync_interval)
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    common = {"csrf": settings.csrf, "ws": workspace.name, "terminal": ",".join(sorted(TERMINAL))}
    stop = threading.Event()

    def page(request: Request) -> Response:
        name = PAGES.get(request.url.path)
        return templates.TemplateResponse(request, name, {**common, "heading": request.url.path.strip("/").capitalize()})

    def run_page(request: Request) -> Response:
        return templates.TemplateResponse(request, "run.html", {**common, "run_id": request.path_params["run_id"]})

    @asynccontextmanager
    async def lifespan(app: Starlette):
        app.state.index.refresh()
        syncer = threading.Thread(target=api.sync_active_runs, args=(app, stop), daemon=True,
                                  name="trainyard-ui-sync")
        syncer.start()
        yield
        stop.set()
        syncer.join(timeout=10)

    routes = [Route(path, page) for path in PAGES]
    routes += [Route("/runs/{run_id}", run_page), *api.ROUTES, *catalog.ROUTES,
               Route("/api/csrf", lambda request: JSONResponse({"csrf": settings.csrf})),
               Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")]
    app = Starlette(routes=routes, middleware=[Middleware(Access)], lifespan=lifespan,
                    exception_handlers=api.EXCEPTION_HANDLERS)
    app.state.settings = settings
    app.state.workspace = workspace
    app.state.index = RunIndex(RunStore(workspace.root))
    return app
