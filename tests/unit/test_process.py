"""The one process manager: start, liveness by identity, stop with a grace period, reap."""

from __future__ import annotations

import os
import sys

from fmtune import process

STUBBORN = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); " \
           "time.sleep(600)"
POLITE = "import time; print('ready', flush=True); time.sleep(600)"


def started(tmp_path, code: str):
    log = tmp_path / "out.log"
    child = process.start([sys.executable, "-c", code], env=dict(os.environ), detach=True, log=log)
    handle = process.handle_of(child.pid)
    for _ in range(600):  # bounded: until the child has installed its handler and said so
        if "ready" in log.read_text():
            break
        process.wait_gone(handle, 0.05)
    return handle, log


def test_sigterm_ends_a_polite_process_within_the_grace_period(tmp_path):
    handle, log = started(tmp_path, POLITE)
    assert handle.alive()
    assert process.terminate(handle, grace=60) is True
    assert handle.state() == "gone"
    assert process.exit_code(handle.pid) is None  # reaped already by terminate


def test_a_process_that_ignores_sigterm_is_killed_after_the_grace_period(tmp_path):
    handle, _ = started(tmp_path, STUBBORN)
    assert process.terminate(handle, grace=0.5) is False
    assert handle.state() == "gone"


def test_a_reused_pid_is_not_mistaken_for_the_process(tmp_path):
    handle, _ = started(tmp_path, POLITE)
    try:
        assert process.Handle(handle.pid, "another-boot:1").state() == "reused"
    finally:
        process.terminate(handle, grace=60)


def test_exit_codes_of_our_children(tmp_path):
    child = process.start([sys.executable, "-c", "raise SystemExit(3)"], env=dict(os.environ), detach=True,
                          log=tmp_path / "log")
    assert process.wait(child.pid, timeout=60) == 3
