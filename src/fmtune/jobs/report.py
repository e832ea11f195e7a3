"""What a job looks like from outside: its description (status, paths, latest metrics) and its log."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from fmtune.jobs.layout import JobLayout
from fmtune.jobs.runner import POLL_S, settle_child
from fmtune.jobs.store import JobRecord, JobStore


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """metrics.jsonl records; a line still being written by the job is skipped."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    records = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except ValueError:
            continue
    return records


def describe_job(record: JobRecord) -> dict[str, Any]:
    layout = JobLayout(Path(record.job_dir))
    metrics = read_metrics(layout.metrics)
    return {
        "name": record.name,
        "status": record.status,
        "failure_reason": record.failure_reason,
        "output_dir": record.job_dir,
        "model_dir": str(layout.model) if (layout.model / "config.json").exists() else None,
        "model": record.model,
        "created": record.created,
        "started": record.started,
        "ended": record.ended,
        "pid": record.pid,
        "hyperparameters": record.config.get("hyperparameters", {}),
        "channels": record.config.get("channels", {}),
        "latest_metrics": metrics[-1] if metrics else None,
    }


def stream_logs(name: str, out: TextIO | None = None, follow: bool = False, poll: float = POLL_S) -> JobRecord:
    """Print the job's logs.txt; with `follow`, keep printing new lines until the job ends.
    Returns the job's record as of the end of the log."""
    out = out or sys.stdout
    store = JobStore()
    record = store.require(name)
    path = JobLayout(Path(record.job_dir)).logs
    offset, partial = 0, b""
    while True:
        if follow:
            settle_child(name)
            record = store.require(name)
        data = b""
        if path.exists():
            with path.open("rb") as f:
                f.seek(offset)
                data = f.read()
            offset += len(data)
        partial += data
        if b"\n" in partial:
            complete, partial = partial.rsplit(b"\n", 1)
            out.write(complete.decode("utf-8", errors="replace") + "\n")
            out.flush()
        if not follow or not record.active:
            if partial:
                out.write(partial.decode("utf-8", errors="replace") + "\n")
            out.flush()
            return record
        time.sleep(poll)
