"""Scoring: the same score.py and model served by Trainyard and by azmlinfsrv, side by side in one run.

azmlinfsrv (PyPI ``azureml-inference-server-http``, the server Azure ML runs ``score.py`` in) is installed
into its own venv under this run's temp dir, never into the project. For each model (iris SVC,
keras-mnist MLP): requests/s and p50/p99 latency at concurrency 1 and 8 from a keep-alive client, the
median of calling ``run()`` in-process, and the time from deploy to Healthy with the environment built.

    .venv/bin/python benchmarks/serve_bench.py [--requests 2000] [--models iris,keras]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from trainyard import CondaDependencies, Environment, InferenceConfig, LocalWebservice, Model, Workspace  # noqa: E402
from trainyard.transport.local import LocalNode  # noqa: E402

MODELS = {
    "iris": {
        "requirements": ["scikit-learn==1.9.*", "joblib>=1.4"],
        "make": "from sklearn import datasets, svm; import joblib, sys; X, y = datasets.load_iris(return_X_y=True); "
                "joblib.dump(svm.SVC(kernel='linear').fit(X, y), sys.argv[1] + '/model.joblib')",
        "score": '''
import json, os, joblib
def init():
    global model
    model = joblib.load(os.path.join(os.environ["AZUREML_MODEL_DIR"], "model.joblib"))
def run(raw_data):
    return model.predict(json.loads(raw_data)["data"]).tolist()
''',
        "body": {"data": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]},
        "framework": "sklearn",
    },
    "keras": {
        "requirements": ["tensorflow==2.21.*"],
        "make": "import keras, sys; m = keras.Sequential([keras.Input((784,)), keras.layers.Dense(300, activation='relu'), "
                "keras.layers.Dense(100, activation='relu'), keras.layers.Dense(10, activation='softmax')]); "
                "m.save(sys.argv[1] + '/model.keras')",
        "score": '''
import json, os
import numpy as np
import keras
def init():
    global model
    model = keras.models.load_model(os.path.join(os.environ["AZUREML_MODEL_DIR"], "model.keras"))
    model(np.zeros((1, 784), "float32"), training=False)
def run(raw_data):
    rows = np.asarray(json.loads(raw_data)["data"], dtype="float32")
    return model(rows, training=False).numpy().argmax(axis=1).tolist()
''',
        "body": {"data": [[0.5] * 784, [0.1] * 784]},
        "framework": "keras",
    },
}
IN_PROCESS = '''
import json, sys, time, statistics
sys.path.insert(0, sys.argv[1])
import score
score.init()
body = json.dumps(json.loads(sys.argv[2]))
for _ in range(50):
    score.run(body)
times = []
for _ in range(int(sys.argv[3])):
    t = time.perf_counter(); score.run(body); times.append(time.perf_counter() - t)
print(statistics.median(times))
'''


def uv() -> str:
    from uv import find_uv_bin

    return find_uv_bin()


def load(port: int, body: bytes, total: int, concurrency: int) -> dict:
    """``total`` POST /score requests over ``concurrency`` keep-alive connections."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()

    def worker(n: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        mine = []
        for _ in range(n):
            t = time.perf_counter()
            conn.request("POST", "/score", body=body, headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            mine.append(time.perf_counter() - t)
            if response.status != 200:
                errors[0] += 1
        conn.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker, args=(total // concurrency,)) for _ in range(concurrency)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {"rps": len(latencies) / elapsed, "p50": latencies[len(latencies) // 2] * 1000,
            "p99": latencies[int(len(latencies) * 0.99)] * 1000, "errors": errors[0]}


def wait_http(port: int, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing answered on port {port}")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(port: int, body: bytes) -> object:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("POST", "/score", body=body, headers={"Content-Type": "application/json"})
    return json.loads(conn.getresponse().read())


def bench_model(kind: str, tmp: Path, ws: Workspace, ref_python: Path, requests: int,
                deployment: object = None) -> list[str]:
    spec = MODELS[kind]
    model_dir, src = tmp / "models" / kind, tmp / "src" / kind
    model_dir.mkdir(parents=True)
    src.mkdir(parents=True)
    subprocess.run([str(ref_python), "-c", spec["make"], str(model_dir)], check=True, capture_output=True)
    (src / "score.py").write_text(spec["score"])
    model = Model.register(ws, model_dir / os.listdir(model_dir)[0], f"bench-{kind}")
    env = Environment(f"bench-{kind}")
    env.python.conda_dependencies = CondaDependencies.create(pip_packages=spec["requirements"])
    config = InferenceConfig("score.py", src, env)
    body = json.dumps(spec["body"]).encode()

    started = time.perf_counter()
    service = Model.deploy(ws, f"bench-{kind}", [model], config, deployment)
    service.wait_for_deployment()
    first = time.perf_counter() - started
    service.delete()
    started = time.perf_counter()
    service = Model.deploy(ws, f"bench-{kind}", [model], config, deployment)
    service.wait_for_deployment()
    cold = time.perf_counter() - started
    status = service.refresh()

    port = free_port()
    started = time.perf_counter()
    ref = subprocess.Popen([str(ref_python.parent / "azmlinfsrv"), "--entry_script", str(src / "score.py"),
                            "--model_dir", str(model_dir), "--port", str(port)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_http(port)
        ref_start = time.perf_counter() - started
        ours, theirs = post(service.port, body), post(port, body)
        assert ours == theirs, (ours, theirs)
        in_process = float(subprocess.run(
            [status["environment"]["python"], "-c", IN_PROCESS, str(src), json.dumps(spec["body"]), "500"],
            capture_output=True, text=True, check=True, env={**os.environ, "AZUREML_MODEL_DIR": str(model_dir)},
        ).stdout.strip()) * 1000
        started = time.perf_counter()  # the floor under any server: the interpreter and the framework's import
        subprocess.run([status["environment"]["python"], "-c", f"import {spec['framework']}"], check=True,
                       capture_output=True)
        framework_import = time.perf_counter() - started
        trivial = tmp / "src" / f"{kind}-trivial"
        trivial.mkdir()
        (trivial / "score.py").write_text("def init():\n    pass\ndef run(raw):\n    return raw\n")
        started = time.perf_counter()
        noop = Model.deploy(ws, f"noop-{kind}", [model], InferenceConfig("score.py", trivial, env))
        noop.wait_for_deployment()
        overhead = time.perf_counter() - started
        noop.delete()
        rows = [f"| {kind} | deploy → Healthy, environment already built | **{cold:.2f} s**, of which the server's "
                f"imports + `init()` {status['ready_seconds']:.2f} s; a no-op score.py: **{overhead:.2f} s** (first "
                f"deploy, with the build: {first:.1f} s) | `azmlinfsrv` start → answering: {ref_start:.2f} s | ≤ 3 s |",
                f"| {kind} | `python -c 'import {spec['framework']}'` alone, in the service's environment | "
                f"{framework_import:.2f} s | | |",
                f"| {kind} | `run()` in-process, median | {in_process:.3f} ms | | |"]
        for concurrency in (1, 8):
            for target in (service.port, port):  # warm both
                load(target, body, 100, concurrency)
            a = load(service.port, body, requests, concurrency)
            b = load(port, body, requests, concurrency)
            goal = f"p50 − run() = {a['p50'] - in_process:.2f} ms (≤ 1 ms)" if concurrency == 1 else ""
            rows.append(f"| {kind} | c={concurrency}: req/s, p50, p99 | **{a['rps']:.0f}/s**, {a['p50']:.2f} ms, "
                        f"{a['p99']:.2f} ms{' (' + str(a['errors']) + ' errors)' if a['errors'] else ''} | "
                        f"{b['rps']:.0f}/s, {b['p50']:.2f} ms, {b['p99']:.2f} ms"
                        f"{' (' + str(b['errors']) + ' errors)' if b['errors'] else ''} | "
                        f"{a['rps'] / b['rps']:.2f}× (≥ 1.0×) {goal} |")
        return rows
    finally:
        os.killpg(ref.pid, 15)
        ref.wait()
        service.delete()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--models", default="iris,keras")
    parser.add_argument("--max-concurrent", type=int, help="the services' replica_max_concurrent_requests "
                        "(default: 1, as in Azure ML)")
    args = parser.parse_args()
    kinds = args.models.split(",")
    with tempfile.TemporaryDirectory(prefix="serve-bench-") as d:
        tmp = Path(d)
        (tmp / "ws" / ".trainyard").mkdir(parents=True)
        (tmp / "ws" / ".trainyard" / "config.json").write_text(json.dumps(
            {"name": "bench", "root": ".", "computes": {"local": {"type": "local", "root": str(tmp / "node")}}}))
        ws = Workspace.from_config(tmp / "ws")
        print("installing azureml-inference-server-http into its own venv …", file=sys.stderr)
        ref = tmp / "azmlinfsrv"
        subprocess.run([uv(), "venv", "-q", "--python", LocalNode().python, str(ref)], check=True)
        packages = ["azureml-inference-server-http"] + [r for k in kinds for r in MODELS[k]["requirements"]]
        subprocess.run([uv(), "pip", "install", "-q", "--python", str(ref / "bin" / "python"), *packages], check=True)
        versions = subprocess.run([uv(), "pip", "list", "--python", str(ref / "bin" / "python")], capture_output=True,
                                  text=True).stdout
        version = next((line.split()[1] for line in versions.splitlines() if line.startswith("azureml-inference")), "?")
        rows = []
        for kind in kinds:
            print(f"benchmarking {kind} …", file=sys.stderr)
            rows += bench_model(kind, tmp, ws, ref / "bin" / "python", args.requests, LocalWebservice.deploy_configuration(
                replica_max_concurrent_requests=args.max_concurrent))
        print(f"\n{args.requests} requests per cell; azureml-inference-server-http {version} with its defaults; "
              f"Trainyard's replica_max_concurrent_requests: {args.max_concurrent or 'default'}\n")
        print("| model | what | Trainyard | azmlinfsrv | ratio / goal |\n|---|---|---|---|---|")
        print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
