"""Every process fmtune starts and watches (training jobs, endpoints): start, liveness, stop, reap.

A process is known by its pid and an identity (boot id + start time), so a pid that the system has given to
another process since is never mistaken for ours. Stopping sends SIGTERM (the process checkpoints or drains
its requests), waits a grace period, then sends SIGKILL; processes started by this Python process are reaped.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

State = Literal["alive", "gone", "reused"]
POLL_S = 0.1

# Processes this Python process started: waiting on them reaps them and gives their exit code.
_children: dict[int, subprocess.Popen] = {}


@dataclass(frozen=True)
class Handle:
    """A process as fmtune records it: pid and identity (None where the platform gives none)."""

    pid: int
    identity: str | None

    def state(self) -> State:
        return process_state(self.pid, self.identity)

    def alive(self) -> bool:
        return self.state() == "alive"


def start(
    argv: Sequence[str], *, env: Mapping[str, str], detach: bool = False, log: Path | None = None,
    log_stdout: bool = True,
) -> subprocess.Popen:
    """Start `argv`. Detached: in its own session (it outlives this process and is stopped as a group), with
    stderr appended to `log` and stdout too unless `log_stdout=False` (a process that writes its log itself).
    Otherwise it shares this terminal."""
    if detach:
        assert log is not None, "a detached process needs a log file"
        with log.open("ab") as out:
            child = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL,
                                     stdout=out if log_stdout else subprocess.DEVNULL, stderr=out, env=dict(env),
                                     start_new_session=True)
    else:
        child = subprocess.Popen(list(argv), env=dict(env))
    _children[child.pid] = child
    return child


def handle_of(pid: int) -> Handle:
    return Handle(pid, process_identity(pid))


def exit_code(pid: int) -> int | None:
    """The exit code of a child of ours that has ended (it is reaped then); None while it runs or if not ours."""
    child = _children.get(pid)
    if child is None or child.poll() is None:
        return None
    del _children[pid]
    return child.returncode


def wait(pid: int, timeout: float | None = None) -> int:
    """Wait for a child of ours to end and return its exit code."""
    child = _children.pop(pid)
    return child.wait(timeout)


def terminate(handle: Handle, grace: float, sig: signal.Signals = signal.SIGTERM) -> bool:
    """`sig`, then SIGKILL if the process is still there after `grace` seconds. Returns whether it ended
    within the grace period (False: it had to be killed)."""
    send(handle.pid, sig)
    if wait_gone(handle, grace):
        return True
    send(handle.pid, signal.SIGKILL)
    wait_gone(handle, 30.0)
    return False


def send(pid: int, sig: signal.Signals) -> None:
    """To the whole process group when the process leads one (detached ones do), else to the process alone
    (a foreground process shares the group of the terminal that started it)."""
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except ProcessLookupError:
        pass


def wait_gone(handle: Handle, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        child = _children.get(handle.pid)
        if child is not None and child.poll() is not None:  # reap it, so it does not linger as a zombie
            _children.pop(handle.pid, None)
        if handle.state() != "alive":
            return True
        time.sleep(POLL_S)
    return False


def process_identity(pid: int) -> str | None:
    """A string that differs between two processes that had the same pid (boot id + start time)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return _psutil_identity(pid)
    fields = stat[stat.rindex(")") + 2 :].split()  # the command name may hold spaces and parentheses
    return f"{boot}:{fields[19]}"  # field 22 of /proc/PID/stat: start time in clock ticks after boot


def _psutil_identity(pid: int) -> str | None:
    try:
        import psutil
    except ImportError:
        return None
    try:
        return f"psutil:{psutil.Process(pid).create_time():.3f}"
    except psutil.Error:
        return None


def process_state(pid: int, identity: str | None) -> State:
    """'alive', 'gone' or 'reused' (the pid now belongs to another process). A zombie counts as gone."""
    if Path("/proc/self/stat").exists():
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return "gone"
        if stat[stat.rindex(")") + 2 :].split()[0] in ("Z", "X"):
            return "gone"
    else:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return "gone"
        except PermissionError:
            pass  # alive, owned by someone else
    if identity is not None and process_identity(pid) not in (identity, None):
        return "reused"
    return "alive"
