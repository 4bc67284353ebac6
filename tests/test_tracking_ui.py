"""The MLflow UI over what covers.tracking logs, verified for real.

A real small sweep of the harness (``run.py -m``, two jobs: ``norm=zscore,l2``) writes a
sqlite store under tmp_path; ``mlflow server`` serves it on a free loopback port; headless
Chromium (Debian's ``chromium``, driven by Playwright; never a downloaded browser) opens it
and uses it as a person would: home page -> "Model training" -> the experiment -> its runs.

Checked: the runs list shows both job runs (under their sweep's parent run, expanded, when
the harness logs one) with a param and metrics as columns; a run's page shows its params
and metrics with the values MLflow's API returns, printed as the UI prints them; the
artifacts tab renders the PNGs fetched from the server's artifact endpoint; comparing the
two runs shows their params and metrics side by side.

Screenshots go to this module's tmp dir (``shots/``); set ``COVERS_UI_SCREENSHOTS=<dir>`` to
also copy the key ones there (ui_experiment.png, ui_run.png, ui_artifact.png, ui_compare_top.png,
ui_compare.png).
"""
from __future__ import annotations

import contextlib
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from PIL import Image

from conftest import run_sweep, write_folder
from ui_helpers import (CHROMIUM, CHROMIUM_ARGS, QUIET_ENV, exact, format_metric, js_string,
                        missing_browser_parts, mlflow_server)

pytestmark = pytest.mark.slow

EXPERIMENT = "ui_check"
TIMEOUT_MS = 30_000          # any one UI wait
PNGS = ("auc.png", "roc.png", "similar_covers.png")  # the one shown last is the screenshot's
#: JS: no part of element ``a`` is cut off with an ellipsis (the whole text is on screen)
FITS = ("[a, ...a.querySelectorAll('*')].filter(e => getComputedStyle(e).textOverflow === 'ellipsis')"
        ".every(e => e.scrollWidth <= e.clientWidth + 1)")


@dataclass
class Store:
    root: Path
    uri: str
    experiment_id: str
    jobs: list = field(default_factory=list)      # mlflow Run objects, one per sweep job
    parent: object | None = None                  # the sweep's parent run, if the harness logs one
    shots: Path | None = None

    def artifact_file(self, run, name: str) -> Path:
        from urllib.parse import urlparse
        return Path(urlparse(run.info.artifact_uri).path) / name


# ---------------------------------------------------------------------------------------
# fixtures: the sweep's store, the server, the browser


@pytest.fixture(scope="module")
def browser_parts_present():
    missing = missing_browser_parts()
    if missing:
        why = ("MLflow UI check needs " + " and ".join(missing)
               + " (.ci/run installs chromium; playwright is in requirements-dev.lock)")
        if os.environ.get("CI"):
            pytest.fail("CI must run the UI check: " + why, pytrace=False)
        pytest.skip(why)


@pytest.fixture(scope="module")
def store(tmp_path_factory, browser_parts_present) -> Store:
    """A real sweep of the harness (two jobs) into a sqlite store under tmp."""
    from mlflow.tracking import MlflowClient

    tmp = tmp_path_factory.mktemp("ui")
    data = write_folder(tmp / "data", 120, 30, 20, planted=True)
    uri = f"sqlite:///{tmp}/mlflow.db"
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"} | QUIET_ENV
    # this check's own sweep settings: with two more eval overrides (conftest.QUICK) the runs list grew
    # and the norm._target_ cell no longer came into view on the 1920 px screen
    r, _ = run_sweep(tmp, "norm=zscore,l2", f"tracking.experiment={EXPERIMENT}", data_dir=data, uri=uri, env=env,
                     quick=("baselines=simple", "eval.n_bootstrap=50"), timeout=300)
    assert r.returncode == 0, f"sweep failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(EXPERIMENT)
    runs = client.search_runs([exp.experiment_id])
    jobs = sorted((x for x in runs if "user_auc" in x.data.metrics and "norm._target_" in x.data.params),
                  key=lambda x: x.info.run_name)
    assert len(jobs) == 2 and all(j.info.status == "FINISHED" for j in jobs), [x.info.run_name for x in runs]
    assert jobs[0].data.params["norm._target_"] != jobs[1].data.params["norm._target_"]
    parents = {j.data.tags.get("mlflow.parentRunId") for j in jobs}
    assert len(parents) == 1, f"the jobs of one sweep have different parents: {parents}"
    parent_id = parents.pop()
    shots = tmp / "shots"
    shots.mkdir()
    return Store(root=tmp, uri=uri, experiment_id=exp.experiment_id, jobs=jobs,
                 parent=client.get_run(parent_id) if parent_id else None, shots=shots)


@pytest.fixture(scope="module")
def server(store) -> str:
    with mlflow_server(store.uri, store.root / "mlartifacts", store.root / "server.log") as url:
        yield url


@pytest.fixture(scope="module")
def browser(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True,
                              timeout=TIMEOUT_MS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser, store, request):
    """A fresh browser profile per test (a first-time visitor); its last view is kept as a screenshot."""
    context = browser.new_context(viewport={"width": 1920, "height": 1080})
    context.set_default_timeout(TIMEOUT_MS)
    pg = context.new_page()
    try:
        yield pg
    finally:
        with contextlib.suppress(Exception):  # a dead page must not hide the test's own error
            pg.screenshot(path=str(store.shots / f"last_{request.node.name}.png"))
        context.close()


def shot(page, store: Store, name: str) -> Path:
    """Screenshot into the tmp dir; copied out too when COVERS_UI_SCREENSHOTS names a dir."""
    path = store.shots / f"ui_{name}.png"
    page.screenshot(path=str(path))
    out = os.environ.get("COVERS_UI_SCREENSHOTS")
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(out) / path.name)
    return path


# ---------------------------------------------------------------------------------------
# the way a person gets to the runs


def open_runs_list(page, server: str, store: Store) -> None:
    """Home page -> 'Model training' (MLflow 3 opens in GenAI mode) -> the experiment's runs,
    with the sweep's parent run expanded when there is one."""
    from playwright.sync_api import expect

    page.goto(server + "/")
    page.get_by_text("Model training", exact=True).click()
    page.get_by_role("link", name=EXPERIMENT, exact=True).first.click()
    first = store.parent or store.jobs[0]
    expect(page.get_by_role("link", name=first.info.run_name, exact=True)).to_be_visible()
    close_assistant(page)
    if store.parent is not None:
        expand_parent(page, store)


def close_assistant(page) -> None:
    """The 'MLflow Assistant' side panel opens by itself on a first visit; close it for room
    (waiting a little for it, so that it cannot open later over the table)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    close = page.locator('[data-component-id="mlflow.assistant.chat_panel.close"]')
    try:
        close.wait_for(state="visible", timeout=5_000)
    except PlaywrightTimeout:
        return  # a version without it, or it stayed shut
    close.click()
    close.wait_for(state="hidden")


def run_link(page, run):
    return page.get_by_role("link", name=run.info.run_name, exact=True)


def grid_row(page, run):
    """The run's row in the runs list (its left, pinned part: checkbox and name)."""
    return page.locator(f'.ag-pinned-left-cols-container [role="row"][row-id="{run.info.run_id}"]')


def grid_cell(page, run, col_id: str):
    return page.locator(f'[role="row"][row-id="{run.info.run_id}"] [role="gridcell"][col-id="{col_id}"]')


def expand_parent(page, store: Store) -> None:
    from playwright.sync_api import expect

    if not run_link(page, store.jobs[0]).is_visible():  # children start collapsed under the parent
        name_cell = page.locator('[role="gridcell"][col-id="attributes.`Run Name`"]').filter(
            has=run_link(page, store.parent))
        name_cell.get_by_role("button").click()
    for job in store.jobs:
        expect(run_link(page, job)).to_be_visible()


# ---------------------------------------------------------------------------------------
# the checks


def test_runs_list_shows_the_sweep(page, server, store):
    """Both job runs are listed (nested under the sweep's parent run when there is one), and
    with a param and two metrics added as columns each row shows that run's values."""
    from playwright.sync_api import expect

    open_runs_list(page, server, store)
    for job in store.jobs:
        expect(run_link(page, job)).to_be_visible()
        expect(grid_row(page, job)).to_be_visible()

    if store.parent is not None:
        expect(run_link(page, store.parent)).to_be_visible()
        parent_row = int(grid_row(page, store.parent).get_attribute("row-index"))
        parent_x = run_link(page, store.parent).bounding_box()["x"]
        for job in store.jobs:
            assert int(grid_row(page, job).get_attribute("row-index")) > parent_row, "child listed above its parent"
            assert run_link(page, job).bounding_box()["x"] > parent_x + 5, "child run not indented under its parent"

    columns = {"params.`norm._target_`": "norm._target_", "metrics.`user_auc`": "user_auc",
               "metrics.`thumbs_auc`": "thumbs_auc"}
    page.get_by_role("button", name="Columns", exact=True).click()
    search = page.get_by_placeholder("Search columns")
    for name in (*columns.values(), "Models"):  # on: the three; off: Models (all "-"), for room
        search.fill(name)
        node = page.locator(".du-bois-light-tree-treenode").filter(has_text=exact(name))
        node.locator(".du-bois-light-tree-checkbox").click()
    page.keyboard.press("Escape")
    for col_id in ("attributes.`Run Name`", "attributes.`Dataset`",  # fit the columns to their text
                   "metrics.`user_auc`", "metrics.`thumbs_auc`"):
        page.locator(f'.ag-header-cell[col-id="{col_id}"] .ag-header-cell-resize').dblclick()
    for job in store.jobs:
        link = run_link(page, job)
        expect(link).to_be_in_viewport(ratio=1)
        page.wait_for_function(f"a => {FITS}", arg=link.element_handle(), timeout=TIMEOUT_MS)
        for col_id, key in columns.items():
            want = job.data.params[key] if col_id.startswith("params") else js_string(job.data.metrics[key])
            cell = grid_cell(page, job, col_id)
            expect(cell).to_be_in_viewport(ratio=1)
            expect(cell).to_have_text(want)
            if col_id.startswith("metrics"):
                page.wait_for_function(f"a => {FITS}", arg=cell.element_handle(), timeout=TIMEOUT_MS)
    shot(page, store, "experiment")


def open_run_page(page, server, store, run) -> None:
    from playwright.sync_api import expect

    open_runs_list(page, server, store)
    run_link(page, run).click()
    expect(page).to_have_url(re.compile(f"/runs/{run.info.run_id}"))
    expect(page.get_by_role("tab", name="Overview")).to_be_visible()


def table_value(page, key: str):
    """The value cell of the row whose first cell is exactly ``key`` (run page tables)."""
    row = page.get_by_role("row").filter(has=page.get_by_role("cell", name=key, exact=True))
    return row.get_by_role("cell").nth(1)


def test_run_page_shows_params_and_metrics(page, server, store):
    from playwright.sync_api import expect

    run = store.jobs[-1]
    open_run_page(page, server, store, run)
    expect(page.get_by_text(run.info.run_name, exact=True).first).to_be_visible()
    if store.parent is not None:  # "Parent run: <link>" under "About this run"
        expect(page.get_by_role("link", name=store.parent.info.run_name, exact=True).first).to_be_visible()

    metrics_search = page.get_by_placeholder("Search metrics")
    for key in ("thumbs_auc", "coverage", "thumbs_auc_random", "user_auc"):
        metrics_search.fill(key)
        value = table_value(page, key)
        expect(value).to_be_visible()
        expect(value).to_have_text(js_string(run.data.metrics[key]))

    params_search = page.get_by_placeholder("Search parameters")
    for key in ("features.size", "norm._target_"):
        params_search.fill(key)
        value = table_value(page, key)
        expect(value).to_be_visible()
        expect(value).to_have_text(run.data.params[key])
    params_search.scroll_into_view_if_needed()
    shot(page, store, "run")


def test_artifacts_tab_renders_the_images(page, server, store):
    """Each PNG is fetched from the server's /get-artifact endpoint byte for byte and shown
    as an image of the file's own size; the others (parquet, yaml) are listed."""
    from playwright.sync_api import expect

    run = store.jobs[0]
    open_run_page(page, server, store, run)
    page.get_by_role("tab", name="Artifacts").click()
    for name in ("scores.parquet", "config.yaml", "results.md", *PNGS):
        expect(page.get_by_text(name, exact=True).first).to_be_visible()

    for name in PNGS:
        on_disk = store.artifact_file(run, name)
        with page.expect_response(lambda r, n=name: "/get-artifact" in r.url and f"path={n}" in r.url
                                  and run.info.run_id in r.url) as response:
            page.get_by_text(name, exact=True).first.click()
        resp = response.value
        assert resp.ok, f"{resp.url}: HTTP {resp.status}"
        assert resp.url.startswith(server + "/")
        # the browser hands the streamed body to the page, not to Playwright: ask once more
        again = page.request.get(resp.url)
        assert again.ok and again.body() == on_disk.read_bytes(), f"{name}: served bytes differ from the artifact"

        img = page.get_by_alt_text(name, exact=True)
        expect(img).to_be_visible()
        page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=img.element_handle(),
                               timeout=TIMEOUT_MS)
        shown = img.evaluate("img => [img.naturalWidth, img.naturalHeight, img.src]")
        with Image.open(on_disk) as im:
            assert tuple(shown[:2]) == im.size, f"{name}: rendered {shown[:2]}, file is {im.size}"
        assert shown[2].startswith(("blob:" + server, server)), shown[2]
        box = img.bounding_box()
        assert box["width"] > 100 and box["height"] > 50, f"{name} preview too small to see: {box}"
    shot(page, store, "artifact")


def test_compare_shows_the_runs_side_by_side(page, server, store):
    from playwright.sync_api import expect

    open_runs_list(page, server, store)
    for job in store.jobs:
        row = grid_row(page, job)
        row.get_by_label(re.compile("toggle row selection")).check()
        expect(row).to_have_attribute("aria-selected", "true")
    page.get_by_role("button", name="Compare", exact=True).click()
    expect(page.get_by_text(f"Comparing {len(store.jobs)} Runs from 1 Experiment")).to_be_visible()

    # columns are in the order of the Run ID header
    by_id = {j.info.run_id: j for j in store.jobs}
    ids = page.get_by_role("link", name=re.compile("^[0-9a-f]{32}$"))
    expect(ids).to_have_count(len(store.jobs))
    order = [by_id[t] for t in ids.all_inner_texts()]
    for job in order:
        expect(page.get_by_text(job.info.run_name, exact=True)).to_be_visible()
    shot(page, store, "compare_top")

    params_row = page.get_by_role("row").filter(has=page.get_by_role("rowheader", name="norm._target_", exact=True))
    params_row.scroll_into_view_if_needed()
    expect(params_row).to_be_visible()
    expect(params_row.get_by_role("cell")).to_have_text([j.data.params["norm._target_"] for j in order])

    # metrics: a virtualised grid of names beside a grid of values, 6 rows high; scroll it
    grids = page.locator('[role="grid"][aria-label="grid"]')
    expect(grids).to_have_count(2)
    names, values = grids.nth(0), grids.nth(1)
    values.evaluate("g => g.scrollIntoView({block: 'center'})")
    for key in ("user_auc", "thumbs_auc"):  # the last stays on the screenshot
        link = scroll_metric_into_view(page, names, values, key)
        mid = (b := link.bounding_box())["y"] + b["height"] / 2
        cells = [c for c in values.locator('[role="rowgroup"] > div').all()
                 if (b := c.bounding_box()) and b["y"] <= mid <= b["y"] + b["height"]]
        cells.sort(key=lambda c: c.bounding_box()["x"])
        shown = [c.inner_text().strip() for c in cells]
        assert shown == [format_metric(j.data.metrics[key]) for j in order], (key, shown)
    shot(page, store, "compare")


def scroll_metric_into_view(page, names, values, key: str):
    """Scroll the compare page's metrics table (6 rows of 45 px on screen) until ``key``'s row is
    wholly in view: back to the top, then down a screenful at a time with the wheel.

    MLflow 3.17 moves the names column to where the values column was one scroll event
    earlier, so after a jump names sit beside the wrong values; a last 3-pixel nudge after each
    step (as a smooth-scrolling wheel's last small events do) brings them back within 3 px."""
    link = names.get_by_role("link", name=key, exact=True)
    view = values.bounding_box()

    def in_view() -> bool:
        b = link.bounding_box() if link.count() else None
        return bool(b) and view["y"] <= b["y"] and b["y"] + b["height"] <= view["y"] + view["height"]

    def wheel(dy: int) -> bool:
        top, room = values.evaluate("g => [g.scrollTop, g.scrollHeight - g.clientHeight]")
        if (dy > 0 and top >= room) or (dy < 0 and top <= 0):
            return False
        page.mouse.wheel(0, dy)
        page.wait_for_function("([g, top]) => g.scrollTop !== top", arg=[values.element_handle(), top],
                               timeout=5_000)
        return True

    values.evaluate("g => { g.scrollTop = 0; }")  # the scrollbar dragged to the top
    values.hover()
    wheel(3)
    wheel(-3)
    for _ in range(60):  # bounded: ~70 rows, 5 a step
        if in_view() or not wheel(240):
            break
        wheel(-3)
    page.wait_for_function("([n, v]) => Math.abs(n.scrollTop - v.scrollTop) <= 4",
                           arg=[names.element_handle(), values.element_handle()], timeout=5_000)
    assert in_view(), f"metric {key} not scrolled into view"
    return link
