"""A job seen from outside: its description (status, paths, latest metrics), and its log and metrics as
iterators that follow a running job (the CLI prints them; a web page can stream them)."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from fmtune.jobs.layout import JobLayout
from fmtune.jobs.metrics import read_metrics
from fmtune.jobs.runner import POLL_S, settle_child
from fmtune.jobs.store import JobRecord, JobStore


def describe_job(record: JobRecord) -> dict[str, Any]:
    layout = JobLayout(Path(record.job_dir))
    metrics = read_metrics(layout.metrics)
    return {
        "name": record.name,
        "status": record.status,
        "failure_reason": record.failure_reason,
        "output_dir": record.job_dir,
        "model_dir": str(layout.model) if layout.has_model() else None,
        "model": record.model,
        "created": record.created,
        "started": record.started,
        "ended": record.ended,
        "pid": record.pid,
        "hyperparameters": record.config.get("hyperparameters", {}),
        "channels": record.config.get("channels", {}),
        "latest_metrics": metrics[-1] if metrics else None,
    }


class FileTail:
    """The complete lines a growing file gained since the last read; a file replaced by a shorter one (a resume
    rewrites steps.jsonl) is read again from its start."""

    def __init__(self, path: Path):
        self.path, self.offset, self.partial = path, 0, b""

    def read(self, final: bool = False) -> list[str]:
        data = b""
        if self.path.exists():
            if self.path.stat().st_size < self.offset:
                self.offset, self.partial = 0, b""
            with self.path.open("rb") as f:
                f.seek(self.offset)
                data = f.read()
            self.offset += len(data)
        *complete, self.partial = (self.partial + data).split(b"\n")
        if final and self.partial:
            complete.append(self.partial)
            self.partial = b""
        return [line.decode("utf-8", errors="replace") for line in complete]


def log_lines(name: str, follow: bool = False, poll: float = POLL_S) -> Iterator[str]:
    """The job's log, line by line; with `follow`, new lines as the job writes them, until it ends."""
    tail = FileTail(_layout(name).logs)
    for running in _while_running(name, follow, poll):
        yield from tail.read(final=not running)


def metric_records(name: str, follow: bool = False, poll: float = POLL_S) -> Iterator[dict[str, Any]]:
    """The job's metrics.jsonl records; with `follow`, each new one as it is written, until the job ends.
    (The file is rewritten in epoch order, so records are told apart by epoch, not by position.)"""
    path, seen = _layout(name).metrics, set()
    for _ in _while_running(name, follow, poll):
        for record in read_metrics(path):
            if record.get("epoch") not in seen:
                seen.add(record.get("epoch"))
                yield record


def stream_logs(name: str, out: TextIO | None = None, follow: bool = False, poll: float = POLL_S) -> JobRecord:
    """Print the job's log (with `follow`, until the job ends); returns the job's record at the end."""
    out = out or sys.stdout
    for line in log_lines(name, follow, poll):
        out.write(line + "\n")
        out.flush()
    return JobStore().require(name)


def _layout(name: str) -> JobLayout:
    return JobLayout(Path(JobStore().require(name).job_dir))


def _while_running(name: str, follow: bool, poll: float) -> Iterator[bool]:
    """Yields True while the job runs (pausing `poll` seconds between), then False once: read once more."""
    store = JobStore()
    while follow:
        settle_child(name)
        if not store.require(name).active:
            break
        yield True
        time.sleep(poll)
    yield False
