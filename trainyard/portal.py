"""Where a running dashboard (`trainyard ui`) can be reached, so ``run.get_portal_url()`` can point at it.

The server writes ``<root>/index/ui.json`` (its URL, token and pid, mode 0600) while it runs and removes
it when it stops; a file left by a server that died is ignored because its process is gone (pid and start time, so a reused
pid is not mistaken for it).
"""

from __future__ import annotations

import os
from pathlib import Path

from trainers._atomic import read_json, write_json_atomic
from trainers.supervisor import is_alive, process_start_time


def portal_file(root: Path) -> Path:
    return Path(root) / "index" / "ui.json"


def write_portal(root: Path, url: str, token: str | None) -> Path:
    path = portal_file(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, {"url": url.rstrip("/"), "token": token, "pid": os.getpid(),
                             "start_time": process_start_time(os.getpid())})
    os.chmod(path, 0o600)
    return path


def clear_portal(root: Path) -> None:
    path = portal_file(root)
    info = read_json(path)
    if info and info.get("pid") == os.getpid():
        path.unlink(missing_ok=True)


def load_portal_url(root: Path, page: str = "/") -> str | None:
    """The dashboard URL of ``page`` when a dashboard serves this workspace on this machine, else None."""
    try:
        info = read_json(portal_file(root))
    except (OSError, ValueError):
        return None
    if not info or not isinstance(info.get("pid"), int) or not is_alive(info["pid"], info.get("start_time")):
        return None
    url = info["url"] + page
    return url + ("&" if "?" in url else "?") + f"token={info['token']}" if info.get("token") else url
