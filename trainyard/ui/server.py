"""Serving the dashboard: uvicorn on one port, the URL recorded for ``run.get_portal_url()``."""

from __future__ import annotations

import ipaddress
import secrets
import socket
import webbrowser
from collections.abc import Callable

from ..errors import WorkspaceError
from ..portal import clear_portal, write_portal
from ..workspace import Workspace
from .app import create_app


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only (pure)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def serve(workspace: Workspace, host: str = "127.0.0.1", port: int = 8642, open_browser: bool = False,
          say: Callable[[str], None] = lambda _: None) -> None:
    """Serve the dashboard until Ctrl-C. A non-loopback host gets a random token, printed in the URL."""
    import uvicorn  # start-up time: only serving needs the server

    loopback = is_loopback(host)
    token = None if loopback else secrets.token_urlsafe(24)
    try:  # fail with a clear message before uvicorn's own (which says only "error while attempting to bind")
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host.strip("[]"), port))
    except OSError as exc:
        raise WorkspaceError(f"cannot listen on {host}:{port} ({exc.strerror}); pick another port with "
                             "--port, or stop what uses this one") from None
    app = create_app(workspace, token=token, loopback=loopback)
    shown_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    url = f"http://{shown_host}:{port}"
    say(f"indexing the runs of workspace {workspace.name} ({workspace.root}) …")
    app.state.index.refresh(progress=lambda done, total: say(f"  indexed {done}/{total} runs"))
    write_portal(workspace.root, url, token)
    full = url + (f"/?token={token}" if token else "/")
    say(f"Trainyard dashboard: {full}\n(Ctrl-C to stop)")
    if open_browser:
        webbrowser.open(full)
    try:
        uvicorn.run(app, host=host.strip("[]"), port=port, log_level="warning", timeout_graceful_shutdown=3)
    finally:
        clear_portal(workspace.root)
