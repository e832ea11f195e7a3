"""A real Studio server for tests: `fmtune studio` in its own process, on a free loopback port, reading the repo and
the session's FMTUNE_HOME; restartable on the same port (its state lives in FMTUNE_HOME)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


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
    """Start Studio servers (`studio(*flags, token=...)`); all are stopped after the test."""
    servers: list[StudioServer] = []

    def start(*args: str, token: str | None = None) -> StudioServer:
        servers.append(StudioServer(*args, token=token).start())
        return servers[-1]

    yield start
    for server in servers:
        server.stop()
