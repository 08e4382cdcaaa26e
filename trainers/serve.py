"""The scoring server of a web service: Azure ML v1's ``score.py`` contract over HTTP (standard library only).

``python -m trainers.serve SERVICE_DIR [--port P]`` runs in the service's environment, started (and
restarted) by ``trainers.service``. It loads the entry script, calls ``init()`` once, binds the port, writes
``ready.json`` and answers:

- ``GET /``: liveness, ``Healthy``;
- ``POST /score``: the request body (JSON) goes to ``run(raw_data)`` as a string (or, when ``run`` carries
  inference-schema decorators, as keyword arguments parsed by them), the result comes back as JSON;
- ``GET /swagger.json``: built from the inference-schema decorators, 404 without them;
- ``POST /invocations``: MLflow's scoring protocol (``dataframe_split``, ``dataframe_records``,
  ``instances``, ``inputs``): the rows go to ``run`` as ``{"data": rows}``, the answer is
  ``{"predictions": result}``.

With keys in ``keys.json``, a request needs ``Authorization: Bearer KEY`` (401 otherwise). Malformed JSON is
a 400, a body over ``max_request_bytes`` a 413, an exception in ``run()`` a 500 with its text; the server
keeps serving. Requests are served on threads, with at most ``concurrency()`` of them inside ``run()`` at
once. SIGHUP reloads the entry script and the keys in place (the port stays open; a broken script keeps the
old one and reports the error in ``ready.json``).
"""

from __future__ import annotations

import argparse
import hmac
import importlib.util
import json
import os
import signal
import socket
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from ._atomic import read_json, write_json_atomic

DEFAULT_MAX_REQUEST_BYTES = 16 << 20
DRAIN_LIMIT = 64 << 20  # an over-limit body up to this size is read and dropped, so the client gets the 413
BUILTIN_SCORE = Path(__file__).with_name("nocode_score.py")


class Scorer:
    """One loaded generation of the entry script."""

    def __init__(self, entry_script: Path, generation: int):
        spec = importlib.util.spec_from_file_location(f"score_g{generation}", entry_script)
        if spec is None or spec.loader is None:
            raise RuntimeError(f"cannot load entry script {entry_script}")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        for name in ("init", "run"):
            if not callable(getattr(module, name, None)):
                raise RuntimeError(f"entry script {entry_script.name} has no {name}() function; the v1 scoring "
                                   "contract needs init() and run(raw_data)")
        module.init()
        self.run = module.run
        self.generation = generation
        self.schema = _inference_schema(module.run)

    def score(self, body: bytes) -> object:
        """Raises ValueError for a body that is not JSON (a 400); anything else from run() is a 500."""
        text = body.decode("utf-8", errors="strict") if body else ""
        try:
            parsed = json.loads(text)
        except ValueError as exc:
            raise BadRequest(f"the request body is not valid JSON ({exc}); send a JSON document such as "
                             '{"data": [[...], ...]}') from None
        if self.schema is not None:
            if not isinstance(parsed, dict):
                raise BadRequest("run() declares its inputs with inference-schema: send a JSON object with "
                                 f"the keys {sorted(self.schema['input'])}")
            return self.run(**parsed)
        return self.run(text)


class BadRequest(Exception):
    pass


def _inference_schema(run) -> dict | None:
    """The input/output schema of a decorated ``run`` when inference-schema is installed, else None."""
    try:  # an optional package of the service's environment
        from inference_schema.schema_util import (  # start-up time: imported only when the script is loaded
            get_input_schema,
            get_output_schema,
            is_schema_decorated,
        )
    except ImportError:
        return None
    if not is_schema_decorated(run):
        return None
    return {"input": get_input_schema(run), "output": get_output_schema(run)}


def render_swagger(schema: dict, title: str) -> dict:
    """A Swagger 2.0 document for /score from the inference-schema schemas (pure)."""
    request = {"type": "object", "properties": schema["input"].get("properties", schema["input"])}
    return {"swagger": "2.0", "info": {"title": title, "version": "1.0"}, "schemes": ["http"],
            "consumes": ["application/json"], "produces": ["application/json"],
            "paths": {"/": {"get": {"operationId": "ServiceHealthCheck",
                                    "responses": {"200": {"description": "Healthy"}}}},
                      "/score": {"post": {"operationId": "RunMLService",
                                          "parameters": [{"name": "serviceInputPayload", "in": "body",
                                                          "required": True, "schema": request}],
                                          "responses": {"200": {"description": "The result of run()",
                                                                "schema": schema["output"]}}}}}}


def parse_mlflow_rows(payload: object) -> list:
    """MLflow's /invocations body → a list of rows (pure). Raises BadRequest naming the formats."""
    if isinstance(payload, dict):
        if "dataframe_split" in payload:
            split = payload["dataframe_split"]
            if isinstance(split, dict) and isinstance(split.get("data"), list):
                return split["data"]
        elif "dataframe_records" in payload:
            records = payload["dataframe_records"]
            if isinstance(records, list) and all(isinstance(r, dict) for r in records):
                return [list(r.values()) for r in records]
        elif "instances" in payload or "inputs" in payload:
            rows = payload.get("instances", payload.get("inputs"))
            if isinstance(rows, list):
                return rows
    raise BadRequest('an /invocations body needs one of "dataframe_split" ({"columns", "data"}), '
                     '"dataframe_records" (a list of objects), "instances" or "inputs" (a list)')


def _to_json(value: object) -> bytes:
    return json.dumps(value, default=_jsonable).encode()


def _jsonable(value: object) -> object:
    if hasattr(value, "tolist"):  # numpy arrays and scalars, torch tensors
        return value.tolist()
    if hasattr(value, "to_dict"):  # pandas
        return value.to_dict()
    raise TypeError(f"run() returned a {type(value).__name__}, which is not JSON-serialisable")


def concurrency(spec: dict) -> int:
    """How many calls may be inside run() at once: ``max_concurrent_requests`` when the deployment set it,
    else 1, Azure ML's default (``replica_max_concurrent_requests``; azmlinfsrv's one sync worker). Requests
    beyond it wait for a slot while their connections stay served. More helps a run() that waits (I/O, a
    remote call); a framework that computes on all cores (TensorFlow, PyTorch) contends with itself."""
    return int(spec.get("max_concurrent_requests") or 1)


class Service:
    """The state the request threads share: the current scorer, the keys, the limits."""

    def __init__(self, service_dir: Path):
        self.dir = service_dir
        self.spec = read_json(service_dir / "service.json") or {}
        self.max_bytes = int(self.spec.get("max_request_bytes") or DEFAULT_MAX_REQUEST_BYTES)
        self.entry = Path(self.spec["entry_script"]) if self.spec.get("entry_script") else BUILTIN_SCORE
        self.generation = 0
        self.keys: tuple[bytes, ...] = ()
        self.load_keys()
        self.scorer = Scorer(self.entry, 0)
        self.reload_error: str | None = None
        self._lock = threading.Lock()
        self.slots = threading.BoundedSemaphore(concurrency(self.spec))

    def score(self, body: bytes) -> object:
        """The current scorer's answer, with at most ``max_concurrent_requests`` calls inside run() at once
        (requests beyond it wait their turn; reading, parsing and replying stay concurrent)."""
        scorer = self.scorer
        with self.slots:
            return scorer.score(body)

    def load_keys(self) -> None:
        keys = read_json(self.dir / "keys.json") or {}
        self.keys = tuple(k.encode() for k in (keys.get("primary"), keys.get("secondary")) if k) \
            if keys.get("auth_enabled") else ()

    def authorised(self, header: str | None) -> bool:
        if not self.keys:
            return True
        if not header or not header.startswith("Bearer "):
            return False
        given = header[7:].strip().encode()
        return any(hmac.compare_digest(given, k) for k in self.keys)

    def reload(self) -> None:
        with self._lock:
            self.load_keys()
            try:
                self.scorer = Scorer(self.entry, self.generation + 1)
                self.reload_error = None
            except BaseException as exc:  # noqa: BLE001 - a broken script must not take the service down
                self.reload_error = f"{type(exc).__name__}: {exc}"
                traceback.print_exc()
            self.generation += 1

    def write_ready(self, port: int) -> None:
        write_json_atomic(self.dir / "ready.json", {
            "pid": os.getpid(), "port": port, "generation": self.generation,
            "scorer_generation": self.scorer.generation, "reload_error": self.reload_error,
            "time": time.time()})


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "trainyard-serve"
    service: Service

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class's name
        pass  # no access log: errors are logged where they happen

    def reply(self, code: int, body: bytes, content_type: str = "application/json", close: bool = False,
              headers: dict | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self._headers_buffer.append(b"\r\n" + body)  # headers and body in one send: no Nagle/delayed-ACK stall
        self.flush_headers()

    def text(self, code: int, message: str, **kw) -> None:
        self.reply(code, message.encode(), "text/plain; charset=utf-8", **kw)

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/":
            self.text(200, "Healthy")
        elif path == "/swagger.json":
            schema = self.service.scorer.schema
            if schema is None:
                self.text(404, "no swagger document: decorate run() with inference-schema's input_schema and "
                               "output_schema (and add inference-schema to the environment)")
            else:
                self.reply(200, _to_json(render_swagger(schema, self.service.spec.get("name", "service"))))
        else:
            self.text(404, f"no route GET {path}; routes: GET /, POST /score, GET /swagger.json, POST /invocations")

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0]
        if path not in ("/score", "/invocations"):
            self.text(404, f"no route POST {path}; score with POST /score (or MLflow's POST /invocations)")
            return
        if not self.service.authorised(self.headers.get("Authorization")):
            self.text(401, "this service needs a key: send 'Authorization: Bearer KEY' (service.get_keys() or "
                           "`trainyard services show NAME --keys`)", headers={"WWW-Authenticate": "Bearer"})
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self.text(400, "Content-Length is not a number", close=True)
            return
        if length > self.service.max_bytes:
            if length <= DRAIN_LIMIT:
                self._drain(length)
            self.text(413, f"the request body is {length} bytes, over this service's limit of "
                           f"{self.service.max_bytes} bytes; send fewer rows per request", close=True)
            return
        body = self.rfile.read(length)
        try:
            if path == "/score":
                result = self.service.score(body)
                self.reply(200, _to_json(result))
            else:
                try:
                    rows = parse_mlflow_rows(json.loads(body))
                except ValueError as exc:
                    raise BadRequest(f"the request body is not valid JSON ({exc})") from None
                result = self.service.score(json.dumps({"data": rows}).encode())
                self.reply(200, _to_json({"predictions": result}))
        except BadRequest as exc:
            self.text(400, str(exc))
        except Exception as exc:  # noqa: BLE001 - run() failed: report it, keep serving
            tb = traceback.format_exc()
            print(f"run() failed: {tb}", file=sys.stderr, flush=True)
            self.text(500, f"run() raised {type(exc).__name__}: {exc}\n{tb[-1500:]}")

    def _drain(self, length: int) -> None:
        left = length
        while left > 0:
            chunk = self.rfile.read(min(left, 1 << 20))
            if not chunk:
                break
            left -= len(chunk)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="trainers.serve", description=__doc__.splitlines()[0])
    parser.add_argument("service_dir")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    service_dir = Path(args.service_dir).resolve()
    sys.path.insert(0, str(service_dir / "src"))
    service = Service(service_dir)
    handler = type("BoundHandler", (Handler,), {"service": service})
    server = _Server((args.host, args.port), handler)
    port = server.server_address[1]
    reload_requested = threading.Event()

    def reloader() -> None:
        while True:
            reload_requested.wait()
            reload_requested.clear()
            service.reload()
            service.write_ready(port)
            print(f"[trainyard] reloaded the entry script (generation {service.generation}"
                  f"{'; FAILED: ' + service.reload_error if service.reload_error else ''})", flush=True)

    threading.Thread(target=reloader, daemon=True).start()
    signal.signal(signal.SIGHUP, lambda *_: reload_requested.set())
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown, daemon=True).start())
    service.write_ready(port)
    print(f"[trainyard] serving {service.entry.name} on http://{args.host}:{port}/score", flush=True)
    server.serve_forever(poll_interval=0.2)
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
