"""Browser tests: a real Studio server (`fmtune studio`, its own process) driven by Playwright through Debian's
Chromium, headless. `make test` installs the `chromium` package; Playwright's own browser download is never used.
Each page the tests visit is saved as a screenshot under test-artifacts/studio/ for a person to look at."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.conftest import REPO

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = REPO / "test-artifacts" / "studio"
# What a root CI machine with a closed network needs (see shared/reference/studio.md §6).
# A loaded 2-core machine: the first preview loads a tokenizer, a generation takes seconds.
expect.set_options(timeout=60_000)
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-sync", "--disable-dev-shm-usage"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class StudioServer:
    """`fmtune studio` in its own process; restartable on the same port (state lives in FMTUNE_HOME)."""

    def __init__(self, *args: str, token: str | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.args = ["--port", str(self.port), "--data-root", str(REPO), "--data-root", os.environ["FMTUNE_HOME"],
                     *(["--token", token] if token else []), *args]
        self.process: subprocess.Popen | None = None
        self.log = Path(os.environ["FMTUNE_HOME"]) / f"studio-{self.port}.log"

    def start(self) -> StudioServer:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen([sys.executable, "-m", "fmtune.cli.main", "studio", *self.args],
                                            stdout=out, stderr=subprocess.STDOUT, cwd=REPO)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/api/v1/health", timeout=2):
                    return self
            except OSError:
                assert self.process.poll() is None, self.log.read_text()
                time.sleep(0.2)
        raise AssertionError(f"Studio did not answer: {self.log.read_text()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)


@pytest.fixture
def studio() -> Iterator[Callable[..., StudioServer]]:
    servers: list[StudioServer] = []

    def start(*args: str, token: str | None = None) -> StudioServer:
        servers.append(StudioServer(*args, token=token).start())
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium is not installed at {CHROMIUM}: `make test` installs Debian's chromium package "
                    "(apt-get install -y chromium).")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser) -> Iterator[object]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(30_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def screenshot(page, name: str) -> Path:
    """A full-page PNG of what the browser shows now, kept as a test artifact."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
