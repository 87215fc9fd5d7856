"""Every chapter runs in a real JupyterLab in a real browser, widgets included.

nbval executes notebooks without a frontend; this suite opens each chapter in
JupyterLab, driven by Playwright in Debian's chromium, restarts the kernel and runs
all cells, and then checks what a reader sees: no cell shows an error, every figure
cell shows an image, and every interactive explorer redraws when a control moves.

It starts its own jupyter-lab on 127.0.0.1 with a random token, serving a temporary
copy of chapters/ (so autosave never touches the repository), with Jupyter's runtime,
workspace, config and IPython folders in a temporary directory; it stops the server
(by process id) and the browser itself, also when a test fails. A screenshot of each
chapter is saved to artifacts/browser/ (ignored by git).

The browser is Debian's chromium (`apt-get install chromium`; set BOOK_CHROMIUM to
use another Chromium binary). Where none is found the suite is skipped, except in CI
(CI=true), where a missing browser is a failure.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

from tools import book

pytestmark = pytest.mark.browser  # run with: python -m pytest -m browser

CHROMIUM = Path(os.environ.get("BOOK_CHROMIUM", "/usr/bin/chromium"))
SCREENSHOTS = book.ROOT / "artifacts" / "browser"
CHAPTERS = book.existing_chapters()
RUN_TIMEOUT_MS = 180_000


def _require_browser():
    problem = None
    if not CHROMIUM.exists():
        problem = (f"no Chromium at {CHROMIUM}: install Debian's chromium (apt-get install chromium) "
                   "or set BOOK_CHROMIUM to a Chromium binary to run the browser tests")
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            problem = 'the Python package playwright is missing: python -m pip install -e ".[browser]"'
    if problem:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the browser tests: {problem}")
        pytest.skip(problem)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Lab:
    url: str
    token: str
    root: Path
    process: subprocess.Popen


def _api(lab: Lab, path: str, method: str = "GET"):
    request = urllib.request.Request(f"{lab.url}{path}", method=method,
                                     headers={"Authorization": f"token {lab.token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        body = response.read()
    return json.loads(body) if body else None


def _stop(process: subprocess.Popen) -> None:
    """Stop a process group we started, politely first."""
    if process.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    _require_browser()
    tmp = tmp_path_factory.mktemp("jupyterlab")
    served = tmp / "book"
    shutil.copytree(book.CHAPTERS_DIR, served / "chapters",
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    env = dict(os.environ,
               JUPYTER_RUNTIME_DIR=str(tmp / "runtime"), JUPYTER_CONFIG_DIR=str(tmp / "config"),
               JUPYTERLAB_WORKSPACES_DIR=str(tmp / "workspaces"), IPYTHONDIR=str(tmp / "ipython"),
               MPLCONFIGDIR=str(tmp / "matplotlib"))
    port, token = _free_port(), secrets.token_hex(24)
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
               "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
               f"--ServerApp.root_dir={served}", f"--LabApp.workspaces_dir={tmp / 'workspaces'}",
               "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=",
               "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
               "--LabApp.extension_manager=readonly"]  # nothing reaches out to the internet
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")  # containers and CI machines often run as root
    log = open(tmp / "server.log", "w")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    server = Lab(f"http://127.0.0.1:{port}", token, served, process)
    try:
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"jupyter-lab exited: {(tmp / 'server.log').read_text()[-2000:]}")
            try:
                _api(server, "/api/status")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("jupyter-lab did not start within 90 s")
                time.sleep(0.5)
        yield server
    finally:
        try:  # shut down kernels through the server, then the server itself
            for session in _api(server, "/api/sessions") or []:
                _api(server, f"/api/sessions/{session['id']}", method="DELETE")
        except OSError:
            pass
        _stop(process)
        log.close()


@pytest.fixture(scope="module")
def browser(lab, tmp_path_factory):
    from playwright.sync_api import sync_playwright

    home = tmp_path_factory.mktemp("chromium-home")  # chromium's crash/config files go here, not to ~
    playwright = sync_playwright().start()
    chromium = None
    try:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            env=dict(os.environ, HOME=str(home), XDG_CONFIG_HOME=str(home / "config"),
                     XDG_CACHE_HOME=str(home / "cache")),
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        yield chromium
    finally:
        if chromium is not None:
            chromium.close()
        playwright.stop()


# In the page: "Restart Kernel and Run All Cells", as a reader would, after clearing the
# stored outputs so that every output checked afterwards is new. Every wait is bounded,
# so a stuck kernel fails the test (naming the chapter) instead of hanging the suite.
RESTART_AND_RUN_ALL = """async () => {
    const limit = (promise, ms, what) => Promise.race([promise, new Promise((_, reject) =>
        setTimeout(() => reject(new Error(what + ' did not finish within ' + ms / 1000 + ' s')), ms))]);
    const app = window.jupyterapp;
    const panel = app.shell.currentWidget;
    await limit(panel.context.ready, 60000, 'opening the notebook');
    await limit(panel.sessionContext.ready, 60000, 'starting the kernel');
    await app.commands.execute('notebook:clear-all-cell-outputs');
    const idle = async (ms) => {
        for (let t = 0; t < ms; t += 250) {
            const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
            if (kernel && kernel.status === 'idle') return true;
            await new Promise(resolve => setTimeout(resolve, 250));
        }
        return false;
    };
    // A restarted kernel occasionally stays "starting" on a loaded machine; restart it once
    // more before giving up, so a slow start is not mistaken for a broken chapter.
    await limit(panel.sessionContext.restartKernel(), 60000, 'restarting the kernel');
    if (!(await idle(60000))) {
        await limit(panel.sessionContext.restartKernel(), 60000, 'restarting the kernel again');
        if (!(await idle(60000))) throw new Error('the kernel did not become idle after a restart');
    }
    // The notebook commands act on the notebook that has focus: make sure it is this one.
    app.shell.activateById(panel.id);
    for (let i = 0; i < 100 && !(app.commands.isEnabled('notebook:run-all-cells')
                                  && window.jupyterapp.shell.currentWidget === panel); i++) {
        await new Promise(resolve => setTimeout(resolve, 100));
    }
    void app.commands.execute('notebook:run-all-cells');  // progress is polled from Python
    return true;
}"""

NOTEBOOK_OPEN = """() => {
    const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
    return !!(w && w.content && w.content.widgets && w.content.widgets.length
              && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel);
}"""

# Finished: the kernel is idle, no cell is queued or running, and every code cell has run
# (or one shows an error, after which a reader's run stops too).
RUN_FINISHED = """() => {
    const panel = window.jupyterapp.shell.currentWidget;
    const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
    const code = panel.content.widgets.filter(c => c.model.type === 'code');
    const busy = code.some(c => c.model.executionState === 'running'
                                || (c.promptNode && c.promptNode.textContent.includes('*')));
    const failed = code.some(c => c.model.outputs.toJSON().some(o => o.output_type === 'error'));
    const done = code.every(c => !c.model.sharedModel.getSource().trim() || c.model.executionCount !== null);
    return !!kernel && kernel.status === 'idle' && !busy && (done || failed);
}"""

CELL_REPORT = """() => window.jupyterapp.shell.currentWidget.content.widgets.map((cell, i) => ({
    index: i,
    type: cell.model.type,
    count: cell.model.type === 'code' ? cell.model.executionCount : null,
    source: cell.model.sharedModel.getSource().trim().length,
    errors: cell.model.type === 'code'
        ? cell.model.outputs.toJSON().filter(o => o.output_type === 'error').map(o => o.ename + ': ' + o.evalue)
        : [],
    images: cell.node.querySelectorAll('.jp-OutputArea-output img').length,
}))"""


def open_and_run(browser, lab: Lab, relative_path: str):
    """Open a notebook, restart its kernel, run all cells; return (page, per-cell report)."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{lab.url}/lab/tree/{relative_path}?token={lab.token}&reset")
    page.wait_for_function(NOTEBOOK_OPEN, timeout=90_000)
    page.evaluate(RESTART_AND_RUN_ALL)
    try:
        page.wait_for_function(RUN_FINISHED, timeout=RUN_TIMEOUT_MS, polling=500)
    except Exception as err:  # report how far the run got, then fail
        report = page.evaluate(CELL_REPORT)
        last = max((c["index"] for c in report if c["count"] is not None), default=None)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{Path(relative_path).stem}-unfinished.png"))
        page.close()
        raise AssertionError(f"{relative_path}: the run did not finish within {RUN_TIMEOUT_MS // 1000} s "
                             f"(last cell run: {last})") from err
    return page, page.evaluate(CELL_REPORT)


def problems_in(name: str, report: list[dict], stored) -> list[str]:
    """What a reader would see go wrong: errors, cells that did not run, missing figures."""
    problems = []
    for cell in report:
        i = cell["index"]
        for error in cell["errors"]:
            problems.append(f"{name}: cell {i} shows an error: {error}")
        if cell["type"] == "code" and cell["source"] and cell["count"] is None:
            problems.append(f"{name}: cell {i} did not run")
    for i, cell in enumerate(stored.cells):
        has_figure = any("image/png" in out.get("data", {}) for out in cell.get("outputs", []))
        if has_figure and i < len(report) and report[i]["images"] == 0:
            problems.append(f"{name}: cell {i} should show a figure but shows no image")
    return problems


def explorer_cells(stored) -> list[int]:
    return [i for i, c in enumerate(stored.cells)
            if c.cell_type == "code" and ("explorer(" in c.source or "alpha_slider(" in c.source)
            and "nbval-ignore-output" in c.metadata.get("tags", [])]


def explorer_problems(page, name: str, index: int) -> list[str]:
    """Move one control of the explorer in cell ``index``; its drawn image must change."""
    cell = page.locator(".jp-Notebook .jp-Cell").nth(index)
    cell.scroll_into_view_if_needed()
    image = cell.locator(".jupyter-widgets img").first
    try:
        image.wait_for(timeout=60_000)
    except Exception:
        return [f"{name}: cell {index}: the explorer shows no image"]
    before = image.get_attribute("src")
    dropdowns = cell.locator(".jupyter-widgets select")
    if dropdowns.count():
        select = dropdowns.first
        options = select.locator("option").all_text_contents()
        # The selected option's label (its value attribute may be encoded differently,
        # e.g. for labels with characters such as "×").
        current = select.evaluate("s => s.options[s.selectedIndex].text")
        select.select_option(label=next(o for o in options if o != current))
    else:
        handle = cell.locator(".jupyter-widgets .noUi-handle").first
        handle.focus()
        handle.press("ArrowRight")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        page.wait_for_timeout(500)
        now = cell.locator(".jupyter-widgets img").first
        if now.count() and now.get_attribute("src") != before:
            return []
    return [f"{name}: cell {index}: moving a control did not redraw the explorer"]


@pytest.mark.parametrize("stem", CHAPTERS)
def test_chapter_runs_in_jupyterlab(browser, lab, stem):
    stored = nbformat.read(book.CHAPTERS_DIR / f"{stem}.ipynb", as_version=4)
    page, report = open_and_run(browser, lab, f"chapters/{stem}.ipynb")
    try:
        problems = problems_in(stem, report, stored)
        for index in explorer_cells(stored):
            problems += explorer_problems(page, stem, index)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{stem}.png"))
    finally:
        page.close()
        for session in _api(lab, "/api/sessions") or []:  # free the kernel's memory
            _api(lab, f"/api/sessions/{session['id']}", method="DELETE")
    assert not problems, "\n".join(problems)


def test_a_broken_chapter_is_reported_with_its_cell(browser, lab):
    """The suite must fail, naming chapter and cell, when a cell raises."""
    nb = nbformat.read(book.CHAPTERS_DIR / f"{CHAPTERS[0]}.ipynb", as_version=4)
    nb.cells.insert(3, nbformat.v4.new_code_cell('raise RuntimeError("broken on purpose")'))
    nbformat.write(nb, lab.root / "chapters" / "broken.ipynb")
    page, report = open_and_run(browser, lab, "chapters/broken.ipynb")
    page.close()
    problems = problems_in("broken", report, nb)
    assert "broken: cell 3 shows an error: RuntimeError: broken on purpose" in problems, problems
    first_code_after = next(i for i, c in enumerate(nb.cells) if i > 3 and c.cell_type == "code")
    assert f"broken: cell {first_code_after} did not run" in problems, problems
