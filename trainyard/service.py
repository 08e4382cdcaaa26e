"""Web services (Azure ML v1 ``Webservice``, ``LocalWebservice``, ``AciWebservice``, ``AksWebservice``).

A service is recorded in ``<root>/services/<name>/service.json`` (its keys, when auth is on, in
``keys.json`` beside it, mode 0600) and runs on a node of a compute, supervised there by
``trainers.service``. ``list_services`` / ``load_service`` are the read API other tools (the dashboard) use.

Where ``scoring_uri`` points: on ``local``, the port on this machine; on an SSH pool node whose config has
``service_address``, that address (the server listens on every interface); otherwise a local port this
process forwards over the node's SSH connection (``trainyard services forward NAME`` keeps one open).
"""

from __future__ import annotations

import json
import secrets
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trainers._atomic import read_json
from trainers.status import FAILED, HEALTHY

from .deployment import (
    KEYS,
    DeploymentConfiguration,
    config_from,
    delete_service,
    list_services,
    load_service,
    redeploy,
    store_source,
    write_service,
)
from .errors import TrainyardError, WebserviceException
from .transport import open_node
from .transport.forward import close_forward, forward

if TYPE_CHECKING:
    from .workspace import Workspace

__all__ = ["AciWebservice", "AksWebservice", "DeploymentConfiguration", "LocalWebservice", "Webservice",
           "list_services", "load_service"]


class Webservice:
    """A deployed service: ``Webservice(ws, name)``; ``Model.deploy`` returns one."""

    def __init__(self, workspace: Workspace, name: str):
        self.workspace = workspace
        self.name = name
        self._record = load_service(workspace, name)

    # -- attributes -----------------------------------------------------------------------------------
    compute_type = property(lambda self: self._record["kind"])
    compute = property(lambda self: self._record["compute"])
    port = property(lambda self: self._record.get("port"))
    auth_enabled = property(lambda self: self._record.get("auth_enabled", False))
    tags = property(lambda self: dict(self._record.get("tags") or {}))
    description = property(lambda self: self._record.get("description"))
    models = property(lambda self: list(self._record.get("models") or []))
    note = property(lambda self: self._record.get("note"))

    @property
    def state(self) -> str:
        """Transitioning, Healthy, Unhealthy or Failed, as the node reports it now."""
        return self.refresh()["state"]

    @property
    def scoring_uri(self) -> str:
        return self._base_url() + "/score"

    @property
    def swagger_uri(self) -> str:
        return self._base_url() + "/swagger.json"

    def _base_url(self) -> str:
        record = self._record
        if not record.get("port"):
            raise WebserviceException(f"service {self.name!r} has no port yet (state {record.get('state')}); "
                                      "call wait_for_deployment() first")
        if record.get("address"):
            return f"http://{record['address']}:{record['port']}"
        return f"http://127.0.0.1:{forward(self._node(), record['port']).port}"

    def _node(self):
        return open_node(self.workspace, self.compute, (self._record.get("node") or {}).get("name"))

    def serialize(self) -> dict:
        return {k: v for k, v in self._record.items()}

    def __repr__(self) -> str:
        return f"Webservice(name={self.name!r}, compute={self.compute!r}, state={self._record.get('state')!r})"

    # -- state --------------------------------------------------------------------------------------------
    def refresh(self) -> dict:
        """Ask the node for the service's status and store what changed; returns the status."""
        try:
            status = self._node().call("service_status", {"name": self.name})
        except TrainyardError as exc:
            status = {"state": self._record.get("state"), "reason": f"cannot reach the node: {exc}"}
        if status.get("state") is None:
            status = {**status, "state": FAILED}
        changed = {k: status.get(k) for k in ("state", "reason", "restarts") if status.get(k) != self._record.get(k)}
        if status.get("port") and status["port"] != self._record.get("port"):
            changed.update(port=status["port"], **self._uris(status["port"]))
        if changed:
            self._record.update(changed)
            write_service(self.workspace, self._record)
        return status

    def _uris(self, port: int) -> dict:
        """What the record says about where to score: ``scoring_uri``/``swagger_uri`` when the desk reaches
        the port directly (the dashboard's "try it" posts there), else only ``node_scoring_uri``."""
        address = self._record.get("address")
        where = "" if address else \
            f" on node {(self._record.get('node') or {}).get('name')} (forwarded by the client)"
        out = {"node_scoring_uri": f"http://{address or '127.0.0.1'}:{port}/score{where}",
               "scoring_uri": None, "swagger_uri": None}
        if address:
            out.update(scoring_uri=f"http://{address}:{port}/score", swagger_uri=f"http://{address}:{port}/swagger.json")
        return out

    def wait_for_deployment(self, show_output: bool = False, timeout_sec: float = 1800,
                            progress: Callable[[str], None] | None = None) -> str:
        """Wait until Healthy (returns the state) or Failed (raises WebserviceException with the cause).
        With ``show_output`` each change of state is printed (v1); ``progress`` receives them instead."""
        say = progress or ((lambda line: print(line, flush=True)) if show_output else (lambda _line: None))
        if self.note and progress is None:  # the CLI's deploy has said it already
            say(self.note)
        deadline, shown = time.monotonic() + timeout_sec, None
        while True:
            status = self.refresh()
            line = f"{status['state']}: {status.get('reason') or ''}".rstrip(": ")
            if line != shown:
                say(line)
                shown = line
            if status["state"] == HEALTHY:
                return HEALTHY
            if status["state"] == FAILED:
                raise WebserviceException(f"service {self.name!r} failed: {status.get('reason')}\n"
                                          f"(`trainyard services logs {self.name}` shows the server log)")
            if time.monotonic() > deadline:
                raise WebserviceException(f"service {self.name!r} is still {status['state']} after {timeout_sec:.0f} "
                                          f"s: {status.get('reason')}")
            time.sleep(0.1)

    # -- use ----------------------------------------------------------------------------------------------
    def run(self, input_data: Any) -> Any:
        """POST ``input_data`` (a JSON string, or anything JSON-serialisable) to /score; returns the answer."""
        body = input_data if isinstance(input_data, (str, bytes)) else json.dumps(input_data)
        return post_json(self.scoring_uri, body, self._auth_header())

    def _auth_header(self) -> dict:
        if not self.auth_enabled:
            return {}
        return {"Authorization": f"Bearer {self.get_keys()[0]}"}

    def get_logs(self, num_lines: int = 5000) -> str:
        logs = self._node().call("service_logs", {"name": self.name, "lines": num_lines})["logs"]
        parts = []
        if self.refresh()["state"] == FAILED and logs.get("environment_build.log"):
            parts.append(logs["environment_build.log"])
        parts.append(logs.get("server.log", ""))
        return "\n".join(p for p in parts if p)

    def get_keys(self) -> tuple[str, str]:
        if not self.auth_enabled:
            raise WebserviceException(f"service {self.name!r} was deployed without key auth; deploy it with "
                                      "auth_enabled=True (CLI: --auth) to have keys")
        keys = read_json(self.workspace.root / "services" / self.name / KEYS) or {}
        return keys["primary"], keys["secondary"]

    def regen_key(self, key: str) -> None:
        """Replace the ``Primary`` or ``Secondary`` key; the old one stops working at once."""
        which = str(key).lower()
        if which not in ("primary", "secondary"):
            raise WebserviceException(f"regen_key takes 'Primary' or 'Secondary', not {key!r}")
        primary, secondary = self.get_keys()
        keys = {"auth_enabled": True, "primary": primary, "secondary": secondary, which: secrets.token_urlsafe(32)}
        self._node().call("service_reload", {"name": self.name, "keys": keys})
        write_service(self.workspace, self._record, keys)

    def reload(self) -> None:
        """Send the entry script's source directory again and re-run it (``init()``) without a rebuild."""
        source = self._record.get("source_directory")
        if not source:
            raise WebserviceException(f"service {self.name!r} uses the built-in scoring script; nothing to reload")
        oid = store_source(self.workspace, self._node(), Path(source))
        answer = self._node().call("service_reload", {"name": self.name, "source": oid})
        if not answer.get("reloaded"):
            raise WebserviceException(f"service {self.name!r} did not reload: {answer.get('reload_error') or answer.get('reason')}")

    def update(self, models: list | None = None, inference_config=None, auth_enabled: bool | None = None,
               tags: dict | None = None, description: str | None = None, **_unused: Any) -> None:
        """Deploy again with the changed parts (the rest as before); wait_for_deployment() follows it."""
        self._record = redeploy(self.workspace, self._record, models, inference_config, auth_enabled, tags,
                                description)

    def delete(self) -> None:
        """Stop the service (its port is free when this returns) and forget it."""
        if self._record.get("port") and self.compute != "local":
            close_forward(self._node(), self._record["port"])
        delete_service(self.workspace, self._record)

    # -- v1 static API ------------------------------------------------------------------------------------
    @staticmethod
    def list(workspace: Workspace, compute_type: str | None = None, tags: list | None = None,
             **_unused: Any) -> list[Webservice]:
        out = [Webservice(workspace, r["name"]) for r in list_services(workspace)]
        return [s for s in out if compute_type is None or s.compute_type.lower() == compute_type.lower()]

    @staticmethod
    def deploy_configuration(**kwargs: Any) -> DeploymentConfiguration:
        return config_from("Local", False, **kwargs)


class LocalWebservice(Webservice):
    @staticmethod
    def deploy_configuration(port: int | None = None, **kwargs: Any) -> DeploymentConfiguration:
        return config_from("Local", False, port=port, **kwargs)


class AciWebservice(Webservice):
    @staticmethod
    def deploy_configuration(cpu_cores: float | None = None, memory_gb: float | None = None,
                             auth_enabled: bool = False, tags: dict | None = None, description: str | None = None,
                             **kwargs: Any) -> DeploymentConfiguration:
        return config_from("ACI", False, cpu_cores=cpu_cores, memory_gb=memory_gb, auth_enabled=auth_enabled,
                       tags=tags, description=description, **kwargs)


class AksWebservice(Webservice):
    @staticmethod
    def deploy_configuration(cpu_cores: float | None = None, memory_gb: float | None = None,
                             auth_enabled: bool = True, tags: dict | None = None, description: str | None = None,
                             **kwargs: Any) -> DeploymentConfiguration:
        return config_from("AKS", True, cpu_cores=cpu_cores, memory_gb=memory_gb, auth_enabled=auth_enabled,
                       tags=tags, description=description, **kwargs)


def post_json(url: str, body: str | bytes, headers: dict | None = None, timeout: float = 60) -> Any:
    """POST a JSON body; the decoded answer, or WebserviceException with the status and the server's text."""
    data = body.encode() if isinstance(body, str) else body
    request = urllib.request.Request(url, data=data, method="POST",
                                     headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        text = exc.read().decode(errors="replace")
        raise WebserviceException(f"{url} answered {exc.code}: {text.strip()[:2000]}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise WebserviceException(f"cannot reach {url} ({getattr(exc, 'reason', exc)}); check the service's state "
                                  "with `trainyard services show NAME`") from None

