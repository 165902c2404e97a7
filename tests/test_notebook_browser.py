"""The lesson notebook in a real browser: JupyterLab 4 and Notebook 7, driven by headless Chromium.

A real Jupyter server (JupyterLab, with Notebook 7's server extension) serves a fresh folder holding
the solutions notebook and the lesson assets, on loopback only, with private Jupyter folders. Playwright
drives Debian's Chromium (not a browser of its own download) through each UI: open the notebook, Run
All Cells, click step 3's "Try it" button, find the picture the step made, answer a question and check
it. What the kernel wrote (answers.json) is read back from the folder.

The kernel auto-starts a background offline Images API for this test's COURSE_HOME; it is stopped with
`python -m course stop` at the end. Screenshots go to tests/artifacts/ (gitignored): the step-3 cell
of each UI, and the whole page when something fails.

Without Chromium or Playwright the tests are skipped, except in CI (CI=true), where they fail.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest

from course.lesson.lessons import CONTENT
from course.lesson.questions import load_question, load_questions

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "tests" / "artifacts"
NOTEBOOK = REPO / "solutions" / "imageGen.ipynb"
ASSETS = REPO / "exercises" / "assets"
QUESTION_ID = "multiple-choice-1686928195"  # the notebook's first question cell

SERVER_TIMEOUT = 60  # seconds for the Jupyter server to answer /api/status
UI_TIMEOUT = 60_000  # ms for the UI to load and the kernel to start
RUN_TIMEOUT = 120_000  # ms for Run All Cells to finish every step
CLICK_TIMEOUT = 30_000  # ms for a widget's click to come back from the kernel

pytestmark = pytest.mark.slow

UIS = {
    # name: (URL path, screenshot of the step-3 cell)
    "jupyterlab": ("/lab/tree/imageGen.ipynb", "jupyterlab-notebook.png"),
    "notebook7": ("/notebooks/imageGen.ipynb", "notebook7-notebook.png"),
}


def _missing(reason: str) -> None:
    """Skip for want of a browser, but fail in CI, which must run these tests."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: the browser tests must run in CI)", pytrace=False)
    pytest.skip(reason)


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        _missing("Chromium is not installed (apt-get install chromium); the browser tests need it")
    return found  # type: ignore[return-value]


# --------------------------------------------------------------------------- the Jupyter server


@dataclass
class JupyterServer:
    folder: Path
    base_url: str
    token: str
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}?token={self.token}"

    def api(self, path: str, method: str = "GET") -> Any:
        request = urllib.request.Request(self.base_url + path, method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None

    def log_tail(self, chars: int = 6000) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            return f"(no server log: {exc})"
        return text[-chars:]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _private_settings(config_dir: Path) -> None:
    """User settings for both UIs: every cell in the DOM (no windowing), no news, no update checks."""
    settings = config_dir / "lab" / "user-settings" / "@jupyterlab"
    (settings / "notebook-extension").mkdir(parents=True)
    (settings / "notebook-extension" / "tracker.jupyterlab-settings").write_text(
        json.dumps({"windowingMode": "none"}), encoding="utf-8")
    (settings / "apputils-extension").mkdir(parents=True)
    (settings / "apputils-extension" / "notification.jupyterlab-settings").write_text(
        json.dumps({"checkForUpdates": False, "fetchNews": "false"}), encoding="utf-8")


@pytest.fixture
def jupyter(tmp_path: Path, isolated_home: Path) -> Iterator[JupyterServer]:
    """A JupyterLab server on loopback in a fresh folder with the solutions notebook and the assets."""
    folder = tmp_path / "lesson"
    folder.mkdir()
    shutil.copy2(NOTEBOOK, folder / "imageGen.ipynb")
    shutil.copytree(ASSETS, folder / "assets")
    private = tmp_path / "jupyter"
    env = os.environ.copy()  # COURSE_HOME from isolated_home, no OPENAI_* variables
    env.update({
        "JUPYTER_PLATFORM_DIRS": "1",
        "JUPYTER_CONFIG_DIR": str(private / "config"),
        "JUPYTER_RUNTIME_DIR": str(private / "runtime"),
        # kernelspecs and the widgets' lab extension are found in the venv's share/jupyter as well
        "JUPYTER_DATA_DIR": str(private / "data"),
        "IPYTHONDIR": str(private / "ipython"),
        "PYTHONPATH": str(REPO),
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",
    })
    for name in ("JUPYTER_PATH", "JUPYTER_CONFIG_PATH", "JUPYTERLAB_DIR", "JUPYTERLAB_SETTINGS_DIR",
                 "JUPYTERLAB_WORKSPACES_DIR", "JUPYTER_TOKEN"):
        env.pop(name, None)
    _private_settings(private / "config")
    port, token = _free_port(), secrets.token_hex(16)
    command = [
        sys.executable, "-m", "jupyter", "lab", "--no-browser",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={folder}",
        "--ServerApp.allow_root=True",  # CI containers run as root
        # nothing leaves the machine: no news feed, no update check, no PyPI extension manager
        "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",
    ]
    log_path = tmp_path / "jupyter-server.log"
    server = JupyterServer(folder, f"http://127.0.0.1:{port}", token, env, log_path)
    with open(log_path, "wb") as log:
        server.process = subprocess.Popen(command, cwd=folder, env=env, stdin=subprocess.DEVNULL,
                                          stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + SERVER_TIMEOUT
        while True:
            if server.process.poll() is not None:
                pytest.fail(f"the Jupyter server exited with {server.process.returncode}:\n{server.log_tail()}")
            try:
                status = server.api("/api/status")
                if isinstance(status, dict) and "started" in status:
                    break
            except (OSError, ValueError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the Jupyter server did not answer within {SERVER_TIMEOUT} s:\n{server.log_tail()}")
            time.sleep(0.25)
        yield server
    finally:
        _stop_server(server)
        subprocess.run([sys.executable, "-m", "course", "stop"], env=env, cwd=folder,
                       capture_output=True, timeout=60)


def _stop_server(server: JupyterServer) -> None:
    """Ask the server to shut down (it stops its kernels), then terminate it, then kill it."""
    process = server.process
    if process is None or process.poll() is not None:
        return
    with contextlib.suppress(OSError, ValueError):
        server.api("/api/shutdown", method="POST")
    for stop in (None, process.terminate, process.kill):
        if stop is not None:
            stop()
        try:
            process.wait(timeout=20)
            return
        except subprocess.TimeoutExpired:
            continue


# --------------------------------------------------------------------------- the browser


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = _chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("Playwright is not installed (pip install -e '.[test]'); the browser tests need it")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=executable, headless=True, timeout=60_000,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage",
                  # loopback goes direct; anything else goes to a closed port on loopback, and fails
                  f"--proxy-server=http://127.0.0.1:{_free_port()}"])
        try:
            yield chromium
        finally:
            chromium.close()


@contextlib.contextmanager
def diagnosed(page: Any, server: JupyterServer, name: str, console: list[str]) -> Iterator[None]:
    """On failure: a screenshot of the page, the browser's console errors and the server log's tail."""
    try:
        yield
    except Exception as exc:
        shot = ARTIFACTS / f"{name}-failure.png"
        with contextlib.suppress(Exception):
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(shot), full_page=True)
        errors = "\n".join(console[-40:]) or "(none)"
        raise AssertionError(f"{name}: {type(exc).__name__}: {exc}\n"
                             f"screenshot: {shot}\n--- browser console (errors) ---\n{errors}\n"
                             f"--- Jupyter server log (tail) ---\n{server.log_tail()}") from exc


def _wait_for_idle_kernel(server: JupyterServer, timeout: float, count: int = 1) -> None:
    """The notebook's kernel is up when the server says it is idle (the same in both UIs); `count`: the
    number of kernels there should be (a second notebook opened starts a second one)."""
    deadline = time.monotonic() + timeout
    kernels: Any = None
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, ValueError):
            kernels = server.api("/api/kernels")
            if kernels and len(kernels) >= count and all(k.get("execution_state") == "idle" for k in kernels):
                return
        time.sleep(0.25)
    raise AssertionError(f"no idle kernel within {timeout} s: {kernels!r}")


def _run_all_cells(page: Any) -> None:
    """Run ▸ Run All Cells, from the menu bar (JupyterLab and Notebook 7 share Lumino's menus)."""
    page.locator(".lm-MenuBar-itemLabel").filter(has_text=re.compile(r"^Run$")).click()
    item = page.locator(".lm-Menu-item:not(.lm-mod-disabled)").filter(
        has=page.locator(".lm-Menu-itemLabel").filter(has_text=re.compile(r"^Run All Cells$")))
    item.click()


def _png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000, (path, len(data))


# --------------------------------------------------------------------------- the test


@pytest.mark.parametrize("ui", list(UIS))
def test_lesson_notebook_in_the_browser(ui: str, browser: Any, jupyter: JupyterServer) -> None:
    from playwright.sync_api import expect

    path, screenshot = UIS[ui]
    timings: dict[str, float] = {}
    clock = time.monotonic()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.monotonic()
        timings[name] = round(now - clock, 1)
        clock = now

    (ARTIFACTS / f"{ui}-failure.png").unlink(missing_ok=True)  # only this run's failure leaves one
    context = browser.new_context(viewport={"width": 1400, "height": 1100})
    local = ("data:", "blob:", jupyter.base_url + "/")
    outside: list[str] = []  # what the page asked of anything but this server (the dead proxy refuses it)
    console: list[str] = []
    context.on("request", lambda r: r.url.startswith(local) or outside.append(r.url))
    page = context.new_page()
    page.set_default_timeout(UI_TIMEOUT)
    page.on("console", lambda m: m.type == "error" and console.append(f"console: {m.text}"))
    page.on("pageerror", lambda e: console.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: console.append(f"request failed: {r.url} ({r.failure})"))
    try:
        with diagnosed(page, jupyter, ui, console):
            # open the notebook and wait for its kernel
            page.goto(jupyter.url(path), wait_until="domcontentloaded")
            expect(page.locator(".jp-Notebook .jp-Cell").first).to_be_visible(timeout=UI_TIMEOUT)
            _wait_for_idle_kernel(jupyter, UI_TIMEOUT / 1000)
            time.sleep(2)  # the kernel's language_info reaches the page
            if ui == "jupyterlab":  # opening it changed nothing: not marked modified
                expect(page.locator("li.lm-TabBar-tab.jp-mod-dirty")).to_have_count(0)
            lap("open")

            # Run All Cells: every step's result block, then the progress widget of the last cell
            _run_all_cells(page)
            expect(page.locator(".course-try[data-step='5']")).to_be_attached(timeout=RUN_TIMEOUT)
            expect(page.locator(".course-progress .course-progress-summary")).to_contain_text(
                "5/5 steps passed", timeout=RUN_TIMEOUT)
            for n in range(1, 6):
                expect(page.locator(f".course-try[data-step='{n}']")).to_have_attribute("data-passed", "true")
            lap("run all")

            # step 3's Try-it button runs the step again: a new URL printed, a new time in the status
            result = page.locator(".course-try[data-step='3']")
            tryit = page.locator(".course-try-it").filter(has_text="Try it (step 3)")
            status = tryit.locator(".widget-html")
            expect(status).to_contain_text("step 3: passed")
            before = status.inner_text()
            url_before = result.locator("pre").first.inner_text()
            assert re.match(r"http://127\.0\.0\.1:\d+/", url_before), url_before
            link = result.locator("pre").first.locator("a")
            expect(link).to_have_text(url_before)
            expect(link).to_have_attribute("href", url_before)
            expect(link).to_have_attribute("target", "_blank")
            old_time = re.search(r"\d\d:\d\d:\d\d", before)
            assert old_time, before
            time.sleep(max(0.0, 1.1 - (time.time() % 1.0)))  # the status's clock moves to another second
            tryit.locator("button").filter(has_text="Try it (step 3)").click()
            expect(status).to_have_text(
                re.compile(rf"step 3: passed \(\d+\.\d s, (?!{old_time.group(0)})\d\d:\d\d:\d\d\)"),
                timeout=CLICK_TIMEOUT)
            expect(result.locator("pre").first).not_to_have_text(url_before, timeout=CLICK_TIMEOUT)
            expect(result).to_have_count(1)  # updated in place, not shown again
            expect(result).to_have_attribute("data-passed", "true")
            image = result.locator("img").first
            expect(image).to_have_attribute("alt", "lesson1-step3-1.png")
            src = image.get_attribute("src") or ""
            assert src.startswith("data:image/png;base64,iVBOR"), src[:80]
            image.scroll_into_view_if_needed()
            page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle(),
                                   timeout=CLICK_TIMEOUT)
            lap("try it")

            # the first question, answered wrong then right: its options show their Markdown (code, not
            # backticks), the feedback, the guidance only after the right answer; the kernel kept the answer
            question = page.locator(".course-question").first
            expect(question).to_contain_text("Lesson 1, question 1: dall-e-2 sizes")
            key = load_question(REPO / "solutions" / "assessments" / f"{QUESTION_ID}.json")
            by_text = {a.text: a for a in load_questions(CONTENT / "assessments")[QUESTION_ID].answers}
            right = [a for a in key.answers if a.id in (key.correct_ids or ())]
            assert by_text['`"512x512"`'].id in {a.id for a in right}
            option = question.locator(".course-option").filter(has_text='"512x512"').last
            expect(option).to_have_text('"512x512"')  # the option's words, no backticks
            expect(question).not_to_contain_text('`"512x512"`')
            expect(question.locator("input[type=radio]")).to_have_count(0)  # several answers: checkboxes
            titles = question.locator("[title]").evaluate_all("nodes => nodes.map(n => n.title)")
            assert '"512x512"' in titles and not any("<" in t for t in titles), titles  # tooltips in words
            single = page.locator(".course-question").filter(has_text="question 5: Fixing an invalid size")
            expect(single.locator("input[type=radio]")).to_have_count(4)  # one answer: radio buttons
            expect(single.locator("input[type=checkbox]")).to_have_count(0)
            expect(single.locator("label").filter(has_text='Use size="512x512", one of the sizes')).to_have_count(1)
            option.locator("input").click()
            question.locator("button").filter(has_text="Check").click()
            feedback = question.locator(".course-feedback")
            expect(feedback).to_contain_text("Not quite.", timeout=CLICK_TIMEOUT)
            expect(question).to_contain_text("attempts: 1 of 2")
            expect(question.locator(".course-guidance")).to_have_count(0)  # not before the last attempt
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            question.screenshot(path=str(ARTIFACTS / f"{ui}-question-wrong.png"))
            for answer in right:
                box = question.locator(".course-option").filter(has_text=answer.text.strip("`")).last.locator("input")
                if not box.is_checked():
                    box.click()
            question.locator("button").filter(has_text="Check").click()
            expect(feedback).to_contain_text("Correct!", timeout=CLICK_TIMEOUT)
            expect(question.locator(".course-guidance")).to_be_visible()
            expect(question).to_contain_text("attempts: 2 of 2")
            question.screenshot(path=str(ARTIFACTS / f"{ui}-question-right.png"))
            _png(ARTIFACTS / f"{ui}-question-wrong.png")
            _png(ARTIFACTS / f"{ui}-question-right.png")
            answers = json.loads((jupyter.folder / "answers.json").read_text(encoding="utf-8"))
            assert sorted(answers[QUESTION_ID]) == sorted(a.id for a in right), answers
            board = page.locator(".course-progress")
            expect(board.locator(".course-progress-summary")).to_contain_text("1/5 questions right",
                                                                              timeout=CLICK_TIMEOUT)
            expect(board).to_contain_text("✓")
            board.scroll_into_view_if_needed()
            board.screenshot(path=str(ARTIFACTS / f"{ui}-progress.png"))
            _png(ARTIFACTS / f"{ui}-progress.png")
            lap("question")

            # a picture of step 3's cell: the code, the URL, the image and the Try-it button
            shot = ARTIFACTS / screenshot
            shot.unlink(missing_ok=True)
            page.locator(".jp-Cell").filter(has=result).screenshot(path=str(shot))
            _png(shot)
            lap("screenshot")

            # a notebook whose step cell is run first (nothing above it): it connects by itself and names
            # the cell to run, no bare NameError
            built = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
            first = [c for c in built["cells"] if c.get("metadata", {}).get("course") in ({"role": "step", "step": 1},)]
            (jupyter.folder / "first.ipynb").write_text(json.dumps({**built, "cells": first}), encoding="utf-8")
            page.goto(jupyter.url(path.replace("imageGen.ipynb", "first.ipynb")), wait_until="domcontentloaded")
            expect(page.locator(".jp-Notebook .jp-Cell").first).to_be_visible(timeout=UI_TIMEOUT)
            _wait_for_idle_kernel(jupyter, UI_TIMEOUT / 1000, count=2)
            note = page.locator(".course-note")
            for _ in range(3):  # a Run All clicked while the new tab still settles can be lost: once more
                _run_all_cells(page)
                with contextlib.suppress(AssertionError):
                    expect(note).to_be_attached(timeout=20_000)
                    break
            expect(note).to_contain_text("Connected to the Images API for lesson 1", timeout=RUN_TIMEOUT)
            hint = page.locator(".course-hint")
            expect(hint).to_contain_text("is made in the set-up cell near the top of the notebook",
                                         timeout=RUN_TIMEOUT)
            cell = page.locator(".jp-Cell").filter(has=note)
            expect(cell).not_to_contain_text("NameError: name 'try_it' is not defined")
            cell.screenshot(path=str(ARTIFACTS / f"{ui}-step-cell-first.png"))
            _png(ARTIFACTS / f"{ui}-step-cell-first.png")
            lap("step cell first")
            assert outside == [], f"the page asked for addresses off this server: {outside}"
    finally:
        context.close()
    print(f"{ui}: {timings}")
