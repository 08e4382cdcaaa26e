"""The dashboard in a real browser: Debian's Chromium (Playwright) against `trainyard ui` serving a
workspace filled by real submits on the local compute. Screenshots go to test-artifacts/ui/."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time

import pytest

from tests.conftest import SHARED, TRAINYARD
from tests.ui.browser import Dashboard, chromium_path, make_ui_project, screenshot, submit
from tests.ui.iris import KEYED, OPEN, delete_all, deploy_iris
from tests.ui.store import add_run

LRS = (0.1, 0.3, 0.2)


@pytest.fixture(scope="module")
def yard(tmp_path_factory):
    """Three completed runs (lr 0.1, 0.3, 0.2), one failed, a sweep parent with three children, and a
    dashboard serving them."""
    root = tmp_path_factory.mktemp("yard")
    home = root / "home"
    home.mkdir()
    env = {**os.environ, "HOME": str(home)}
    env.pop("TRAINYARD_WORKSPACE", None)
    make_ui_project(root)
    ids = {}
    for lr in LRS:
        out = submit(root, env, "--set", f"inputs.lr={lr}", "--json")
        assert out.returncode == 0, out.stderr
        ids[lr] = json.loads(out.stdout)["runId"]
    failed = submit(root, env, "--set", "inputs.mode=crash", "--set", "inputs.lr=0.05", "--json")
    assert failed.returncode == 3, failed.stderr
    ids["failed"] = json.loads(failed.stdout)["runId"]
    reg = subprocess.run([TRAINYARD, "datasets", "register", "mnist", str(SHARED / "data" / "mnist")], cwd=root,
                         env=env, capture_output=True, text=True, timeout=300)
    assert reg.returncode == 0, reg.stderr
    ws_root = root / ".trainyard"
    parent = add_run(ws_root, "sweep_1700000000_0000000a",
                     properties={"primary_metric_config": json.dumps({"name": "accuracy", "goal": "maximize"})})
    for i, acc in enumerate((0.7, 0.9, 0.8)):
        add_run(ws_root, f"sweep_170000000{i + 1}_0000000{i}", parent=parent, metrics={"accuracy": acc},
                inputs={"C": str(i)})
    ids["parent"], ids["best_child"] = parent, "sweep_1700000002_00000001"
    ui = Dashboard(root, env)
    yield {"root": root, "env": env, "ids": ids, "ui": ui}
    ui.stop()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path(), headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    pg = context.new_page()
    errors = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    yield pg
    context.close()
    assert not errors, errors


def table_ids(page) -> list[str]:
    return page.eval_on_selector_all("#runs tbody tr[data-run]:not(.childrow)", "rs => rs.map(r => r.dataset.run)")


def test_runs_table_sort_and_filter(yard, page):
    """The landing page lists the top-level runs; clicking a metric header sorts by it; the filter
    language narrows the rows."""
    ids = yard["ids"]
    page.goto(yard["ui"].url)
    page.wait_for_selector("#runs tbody tr[data-run]")
    assert len(table_ids(page)) == 5  # 3 completed + 1 failed + the sweep parent (children folded)
    screenshot(page, "runs-table")
    page.click("th[data-sort='metrics.accuracy.last']")
    page.wait_for_selector("th[data-sort='metrics.accuracy.last']:has-text('↓')")
    assert table_ids(page)[:4] == [ids[0.3], ids[0.2], ids[0.1], ids["failed"]]
    page.click("th[data-sort='metrics.accuracy.last']")
    page.wait_for_selector("th[data-sort='metrics.accuracy.last']:has-text('↑')")
    assert table_ids(page)[:4] == [ids["failed"], ids[0.1], ids[0.2], ids[0.3]]
    page.fill("#q", "params.lr=0.3")
    page.press("#q", "Enter")
    page.wait_for_function("document.querySelectorAll('#runs tbody tr[data-run]').length === 1")
    assert table_ids(page) == [ids[0.3]]
    page.fill("#q", "status:Failed")
    page.press("#q", "Enter")
    page.wait_for_function(f"document.querySelector('#runs tbody tr[data-run]')?.dataset.run === '{ids['failed']}'")
    assert "Failed" in page.inner_text("#runs tbody")
    page.fill("#q", "metrics.accuracy>")
    page.press("#q", "Enter")
    page.wait_for_selector("#error:not([hidden])")
    assert "compares with a number" in page.inner_text("#error")


def test_child_runs_fold_with_best_marked(yard, page):
    """A sweep's children unfold under it, the best by its primary metric marked."""
    ids = yard["ids"]
    page.goto(yard["ui"].url)
    page.click(f"button[data-fold='{ids['parent']}']")
    page.wait_for_selector("tr.childrow")
    kids = page.eval_on_selector_all("tr.childrow", "rs => rs.map(r => [r.dataset.run, r.classList.contains('bestrow')])")
    assert len(kids) == 3 and [k for k, best in kids if best] == [ids["best_child"]]
    assert "★ best" in page.inner_text(f"tr[data-run='{ids['best_child']}']")
    screenshot(page, "runs-children")


def test_run_page_chart_per_metric(yard, page):
    """A completed run's metrics tab shows one chart canvas per series; overview, images, outputs work."""
    rid = yard["ids"][0.2]
    page.goto(f"{yard['ui'].url}/runs/{rid}#metrics")
    page.wait_for_function("[...document.querySelectorAll('.chart')].every(c => c.dataset.points)")
    charts = page.eval_on_selector_all(".chart", "cs => cs.map(c => [c.dataset.metric, c.dataset.points, c.dataset.series])")
    assert sorted(charts) == [["loss", "5", "1"], ["val_loss", "5", "1"]]
    assert page.locator(".chart canvas").count() == 2
    screenshot(page, "run-metrics")
    plotted = "(i) => document.querySelector(\".chart[data-metric='loss']\")._chart.plot?.data?.[i]"
    raw_last = page.evaluate(f"({plotted})(1).at(-1)")
    page.fill("#smooth", "0.9")
    page.dispatch_event("#smooth", "input")
    assert page.evaluate(f"({plotted})(1).at(-1)") > raw_last  # EMA of a falling loss lags above it
    page.select_option("#xaxis", "time")
    page.wait_for_function(f"({plotted})(0)?.[0] > 1e9")  # x is now the unix time each value was logged
    page.select_option("#xaxis", "step")
    page.wait_for_function(f"({plotted})(0)?.[0] === 0")
    page.click("nav.tabs a[href='#overview']")
    assert "Completed" in page.inner_text("#status") and "ui-model:" in page.inner_text("#overview")
    screenshot(page, "run-overview")
    page.click("nav.tabs a[href='#images']")
    page.wait_for_function("document.querySelector('#images img')?.complete && "
                           "document.querySelector('#images img').naturalWidth > 0")
    assert page.locator("#images table.cm td.diag").all_inner_texts() == ["5", "7"]
    screenshot(page, "run-images")
    page.click("nav.tabs a[href='#outputs']")
    page.click("#files a:has-text('outputs/report.csv')")
    page.wait_for_selector("#preview table")
    assert page.inner_text("#preview table").split()[:2] == ["epoch", "loss"]
    assert "step 4 loss" in page.inner_text("#log")


def test_compare_shows_only_differing_params_and_overlays(yard, page):
    """Compare: the parameter diff lists only keys that differ; each chart has one series per run."""
    ids = yard["ids"]
    page.goto(f"{yard['ui'].url}/compare?runs={ids[0.1]},{ids[0.2]},{ids[0.3]}")
    page.wait_for_selector("#diff tr[data-param]")
    assert page.eval_on_selector_all("#diff tr[data-param]", "rs => rs.map(r => r.dataset.param)") == ["lr"]
    page.wait_for_function("[...document.querySelectorAll('.chart')].length === 2 && "
                           "[...document.querySelectorAll('.chart')].every(c => c.dataset.points)")
    assert page.eval_on_selector_all(".chart", "cs => cs.map(c => c.dataset.series)") == ["3", "3"]
    assert page.locator(".chart").first.locator(".u-legend .u-series").count() == 4  # x + 3 runs
    screenshot(page, "compare")


def test_sweep_compare_draws_parallel_coordinates(yard, page):
    """Comparing a sweep's children draws parallel coordinates against the primary metric."""
    kids = [f"sweep_170000000{i + 1}_0000000{i}" for i in range(3)]
    page.goto(f"{yard['ui'].url}/compare?runs={','.join(kids)}")
    page.wait_for_selector("#parallel-box:not([hidden])")
    assert "accuracy (maximize)" in page.inner_text("#pc-metric")
    painted = page.evaluate("() => { const c = document.getElementById('parallel');"
                            "return c.getContext('2d').getImageData(0, 0, c.width, c.height).data.some(v => v); }")
    assert painted


def test_catalog_pages(yard, page):
    """Models (with lineage to the run), computes and services pages render from the API."""
    page.goto(f"{yard['ui'].url}/models")
    page.wait_for_selector("tr[data-model]")
    assert "ui-model:1" in page.inner_text("#list")
    page.click("tr[data-model='ui-model:1'] a")
    page.wait_for_selector("#detail h3")
    assert "model.txt" in page.inner_text("#detail") and yard["ids"][0.1] in page.inner_text("#detail")
    assert page.request.get(f"{yard['ui'].url}/api/models/ui-model/1").json()["lineage"]["run_id"] == yard["ids"][0.1]
    screenshot(page, "models")
    page.goto(f"{yard['ui'].url}/computes")
    page.wait_for_selector("[data-compute='local'] .live table")
    assert "yes" in page.inner_text("[data-compute='local'] .live")
    page.goto(f"{yard['ui'].url}/services")
    page.wait_for_selector("#list p")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """Two real iris services on `local` (one keyed) and a dashboard on their workspace."""
    root = tmp_path_factory.mktemp("served")
    env = {**os.environ, "HOME": str(root / "home")}
    env.pop("TRAINYARD_WORKSPACE", None)
    ws = deploy_iris(root, env)
    ui = Dashboard(root, env)
    yield ui
    ui.stop()
    delete_all(ws)


@pytest.mark.parametrize("name", [OPEN, KEYED])
def test_services_page_real_service(served, page, name):
    """A deployed iris service's page shows Healthy, the server log from its node, and "try it" answers
    [0, 2] for the two rows already in the box (the keyed service too: the dashboard sends the key)."""
    page.goto(f"{served.url}/services")
    page.wait_for_selector(f"tr[data-service='{name}']")
    assert "Healthy" in page.inner_text(f"tr[data-service='{name}'] .status")
    page.click(f"tr[data-service='{name}'] a")
    page.wait_for_selector("#service-log")
    assert page.inner_text("#service-state") == "Healthy"
    assert page.inner_text("#service-log").strip()
    page.click("#try-it")
    page.wait_for_function("document.getElementById('try-output').textContent !== ''", timeout=30_000)
    assert json.loads(page.inner_text("#try-output")) == [0, 2]
    screenshot(page, f"service-{name}")


def test_datasets_page_previews_real_mnist(yard, page):
    """The datasets page lists the registered MNIST and draws its image grid (the real files)."""
    page.goto(f"{yard['ui'].url}/datasets")
    page.click("tr[data-dataset='mnist:1'] a")
    page.wait_for_function("document.querySelector('img.preview')?.complete && "
                           "document.querySelector('img.preview').naturalWidth > 0", timeout=120_000)
    assert page.locator("#detail details summary").inner_text() == "4 files"
    screenshot(page, "datasets")


def test_live_run_grows_then_cancel_from_page(yard, page):
    """A running run's chart and log tail grow while it runs; Cancel on the page ends it Canceled."""
    out = submit(yard["root"], yard["env"], "--detach", "--set", "inputs.steps=2000", "--set",
                 "inputs.sleep=0.05", "--set", "inputs.lr=0.7", "--json")
    assert out.returncode == 0, out.stderr
    rid = re.search(r'"runId": "([^"]+)"', out.stdout).group(1)
    page.goto(f"{yard['ui'].url}/runs/{rid}#metrics")
    page.wait_for_selector(".chart[data-metric='loss'][data-points]", timeout=60_000)
    first = int(page.get_attribute(".chart[data-metric='loss']", "data-points"))
    page.wait_for_function(f"Number(document.querySelector(\".chart[data-metric='loss']\").dataset.points) > {first}",
                           timeout=30_000)
    page.click("nav.tabs a[href='#outputs']")
    page.wait_for_function("document.getElementById('log').textContent.includes('step ')", timeout=30_000)
    before = len(page.inner_text("#log"))
    page.wait_for_function(f"document.getElementById('log').textContent.length > {before}", timeout=30_000)
    screenshot(page, "run-live")
    page.once("dialog", lambda d: d.accept())
    started = time.time()
    page.click("#cancel")
    page.wait_for_function("document.getElementById('status').textContent.includes('Canceled')", timeout=60_000)
    assert time.time() - started < 60
    assert page.locator("#cancel").is_hidden()
