"""The dashboard at scale: 10,000 runs; one run with 100,000 points in each of 10 metrics; 10 such runs
compared in Chromium; the runs table's page weight.

    python benchmarks/ui_bench.py [--runs 10000] [--points 100000] [--metrics 10] [--compare-runs 10]

Prints each figure beside its target and beside the same work done without the index (what reading
the files for every request costs). Server times are measured over real HTTP against `trainyard ui`
running in its own process on loopback (medians). Asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from timing import median_seconds  # noqa: E402

from trainyard import Workspace  # noqa: E402
from trainyard.metrics import compute_metrics, load_records  # noqa: E402
from trainyard.runstore import RunStore, new_record  # noqa: E402
from trainyard.ui.index import RunIndex  # noqa: E402

TRAINYARD = str(Path(sys.executable).parent / "trainyard")

FILTER = "metrics.accuracy>0.9 params.kernel=rbf status:Completed tag:team=vision exp:svm"


def fill_runs(store: RunStore, n: int) -> None:
    rng = random.Random(0)
    for i in range(n):
        exp = ("svm", "keras", "torch")[i % 3]
        run_id = f"{exp}_{1_790_000_000 + i}_{i:08x}"
        record = new_record(run_id, exp, compute="gpu-pool", node={"name": f"n{i % 4}"},
                            inputs={"kernel": ("rbf", "linear", "poly")[i % 3], "C": str(rng.choice([0.5, 1, 1.5]))},
                            tags={"team": ("vision", "nlp")[i % 2]}, created=1_790_000_000 + i)
        record.update(status=("Completed", "Failed", "Completed", "Canceled")[i % 4],
                      started=record["created"] + 1, ended=record["created"] + 60)
        d = store.create(record)
        lines = [json.dumps({"kind": "scalar", "name": "loss", "value": 1 / (s + 1 + rng.random()), "step": s,
                             "time": record["created"] + s}) for s in range(5)]
        lines.append(json.dumps({"kind": "scalar", "name": "accuracy", "value": rng.random(), "time": 0}))
        (d / "metrics.jsonl").write_text("\n".join(lines) + "\n")


def fill_points(store: RunStore, run_id: str, points: int, metrics: int) -> None:
    store.create(new_record(run_id, run_id.rsplit("_", 2)[0], compute="local",
                            inputs={"lr": str(0.001 * (1 + int(run_id[-1], 16)))}))
    rng = random.Random(run_id)
    with open(store.run_dir(run_id) / "metrics.jsonl", "w") as fh:
        for s in range(points):
            for m in range(metrics):
                fh.write(json.dumps({"kind": "scalar", "name": f"m{m}", "value": m + 1 / (1 + s / 1000) +
                                     rng.gauss(0, 0.02), "step": s, "time": 1.79e9 + s}) + "\n")


class Server:
    """`trainyard ui` as a user starts it, in its own process, on a free loopback port."""

    def __init__(self, cwd: Path):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen([TRAINYARD, "ui", "--port", str(self.port)], cwd=cwd,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(6000):
            try:
                self.get("/api/csrf")
                return
            except OSError:
                time.sleep(0.1)
        raise SystemExit("trainyard ui did not start")

    def get(self, path: str) -> bytes:
        with urllib.request.urlopen(self.url + path, timeout=120) as resp:
            return resp.read()

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout=30)


def row(what: str, value: str, target: str, without: str = "") -> None:
    print(f"| {what} | {value} | {target} | {without} |", flush=True)


def no_index_first_page(store: RunStore, sort_metric: str | None) -> None:
    """The same page without the index: every record and metrics file read, sorted in Python."""
    runs = []
    for r in store.iter_runs():
        m = compute_metrics(load_records(store.run_dir(r["run_id"]) / "metrics.jsonl"))
        runs.append((m.get(sort_metric) if sort_metric else r["created"], r))
    runs.sort(key=lambda x: (x[0] is None, x[0] if not isinstance(x[0], list) else x[0][-1]), reverse=True)
    return runs[:50]


def browser_compare(server: Server, run_ids: list[str]) -> dict:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    out: dict = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 2400})
        page.add_init_script("window.__long = 0; new PerformanceObserver(l => { for (const e of l.getEntries()) "
                             "window.__long = Math.max(window.__long, e.duration); }).observe({entryTypes: ['longtask']});")
        started = time.perf_counter()
        page.goto(f"{server.url}/compare?runs={','.join(run_ids)}")
        page.wait_for_selector(".chart[data-points]", timeout=600_000)
        out["first_chart"] = time.perf_counter() - started
        page.wait_for_function("[...document.querySelectorAll('.chart')].length > 0 && "
                               "[...document.querySelectorAll('.chart')].every(c => c.dataset.points)", timeout=600_000)
        out["all_charts"] = time.perf_counter() - started
        out["charts"] = page.locator(".chart").count()
        out["series"] = page.get_attribute(".chart", "data-series")
        out["points"] = page.get_attribute(".chart", "data-points")
        box = page.locator(".chart .u-over").first.bounding_box()
        before = page.get_attribute(".chart", "data-points")
        started = time.perf_counter()
        page.mouse.move(box["x"] + box["width"] * 0.40, box["y"] + box["height"] / 2)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * 0.42, box["y"] + box["height"] / 2, steps=5)
        page.mouse.up()
        page.wait_for_function(f"document.querySelector('.chart').dataset.points !== '{before}'", timeout=120_000)
        out["zoom"] = time.perf_counter() - started
        out["zoom_points"] = page.get_attribute(".chart", "data-points")
        out["zoom_title"] = page.inner_text(".chart .chart-title")
        probe = page.evaluate("() => new Promise(r => { const t = performance.now(); "
                              "requestAnimationFrame(() => r(performance.now() - t)); })")
        out["frame_ms"] = probe
        out["longest_task_ms"] = page.evaluate("window.__long")
        browser.close()
    return out


def page_weight(server: Server) -> tuple[int, list[str]]:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    sizes: dict[str, int] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True)
        page = browser.new_page()
        responses = []
        page.on("response", lambda r: responses.append(r))
        page.goto(server.url + "/")
        page.wait_for_selector("#runs tbody tr[data-run]")
        page.wait_for_load_state("networkidle")
        for r in responses:
            sizes[r.url] = len(r.body()) if r.ok else 0
        browser.close()
    return sum(sizes.values()), sorted(f"{u.replace(server.url, '')} {n}" for u, n in sizes.items())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10_000)
    ap.add_argument("--points", type=int, default=100_000)
    ap.add_argument("--metrics", type=int, default=10)
    ap.add_argument("--compare-runs", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="trainyard-ui-bench-"))
    os.chdir(tmp)
    ws = Workspace.load()
    store = RunStore(ws.root)
    print(f"filling {args.runs} runs …", file=sys.stderr, flush=True)
    fill_runs(store, args.runs)
    print(f"filling {args.compare_runs} runs × {args.metrics} metrics × {args.points} points …", file=sys.stderr)
    big = [f"big_1800000000_{i:08x}" for i in range(args.compare_runs)]
    for rid in big:
        fill_points(store, rid, args.points, args.metrics)

    index = RunIndex(store)
    started = time.perf_counter()
    index.refresh()
    build = time.perf_counter() - started
    started = time.perf_counter()
    index.refresh()
    restat = time.perf_counter() - started
    index.close()
    server = Server(tmp)  # opens the same index file: on start it only stats the runs

    print(f"\n{args.runs + len(big)} runs in the store; {args.metrics} metrics × {args.points} points in "
          f"{len(big)} of them\n")
    print("| figure | measured | target | without the index |")
    print("|---|---|---|---|")
    row("index build from the files (once, on `trainyard ui` start)", f"{build:.1f} s", "—", "")
    row("index refresh when nothing changed (stat of every run)", f"{restat * 1000:.0f} ms", "—", "")
    first = median_seconds(lambda: server.get("/api/runs?per_page=50"), args.repeat)
    naive = median_seconds(lambda: no_index_first_page(store, None), 1)
    row("first table page, HTTP GET /api/runs", f"{first * 1000:.0f} ms", "≤ 300 ms", f"{naive * 1000:.0f} ms")
    q = urllib.request.quote(FILTER)
    filtered = median_seconds(lambda: server.get(f"/api/runs?q={q}"), args.repeat)
    row(f"filtered query `{FILTER}`", f"{filtered * 1000:.0f} ms", "≤ 300 ms", "")
    by_metric = median_seconds(lambda: server.get("/api/runs?sort=metrics.accuracy.best"), args.repeat)
    naive_m = median_seconds(lambda: no_index_first_page(store, "accuracy"), 1)
    row("table sorted by a metric (best accuracy)", f"{by_metric * 1000:.0f} ms", "≤ 300 ms", f"{naive_m * 1000:.0f} ms")
    payload = json.loads(server.get(f"/api/runs/{big[0]}/metrics/m0"))
    chart = median_seconds(lambda: server.get(f"/api/runs/{big[0]}/metrics/m3"), args.repeat)
    naive_c = median_seconds(lambda: load_records(store.run_dir(big[0]) / "metrics.jsonl"), 1)
    row(f"chart payload, one series of {args.points} points", f"{chart * 1000:.0f} ms, {len(payload['x'])} points",
        "≤ 100 ms, ≤ 2,000 points", f"{naive_c * 1000:.0f} ms (parse metrics.jsonl)")
    zoom = median_seconds(lambda: server.get(f"/api/runs/{big[0]}/metrics/m3?x0=40000&x1=41000"), args.repeat)
    row("zoomed range 40,000–41,000 at full resolution", f"{zoom * 1000:.0f} ms", "", "")
    weight, parts = page_weight(server)
    row("runs table page weight (HTML + CSS + JS + first API page)", f"{weight / 1024:.0f} KB", "≤ 500 KB", "")
    b = browser_compare(server, big)
    row(f"compare {len(big)} runs × {b['charts']} charts × {args.points} steps: first chart",
        f"{b['first_chart']:.2f} s", "", "")
    row("… all charts drawn", f"{b['all_charts']:.2f} s ({b['series']} series, {b['points']} x values in chart 1)", "", "")
    row("… scripted zoom (drag) until the range is redrawn at full resolution", f"{b['zoom'] * 1000:.0f} ms "
        f"({b['zoom_points']} x values)", "interactive", "")
    row("… after that: next animation frame / longest main-thread task", f"{b['frame_ms']:.0f} ms / "
        f"{b['longest_task_ms']:.0f} ms", "", "")
    print("\npage weight parts: " + "; ".join(parts), file=sys.stderr)
    server.stop()
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
