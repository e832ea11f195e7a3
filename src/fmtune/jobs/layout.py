"""What a job directory holds, in one place."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path


@dataclass(frozen=True)
class JobLayout:
    root: Path

    @property
    def config(self) -> Path:
        return self.root / "config.json"

    @property
    def logs(self) -> Path:
        return self.root / "logs.txt"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.jsonl"

    @property
    def adapter(self) -> Path:
        return self.root / "adapter"

    @property
    def model(self) -> Path:
        return self.root / "model"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def status_file(self) -> Path:
        return self.root / "status.json"

    def status(self) -> dict:
        return json.loads(self.status_file.read_text()) if self.status_file.exists() else {}

    def mark_running(self) -> None:
        self._mark("InProgress", None)

    def mark_completed(self) -> None:
        self._mark("Completed", None)

    def mark_stopped(self) -> None:
        self._mark("Stopped", None)

    def mark_failed(self, reason: str) -> None:
        self._mark("Failed", reason)

    def _mark(self, status: str, reason: str | None) -> None:
        """Called by the job's own process: status.json first (always possible), then the job store row,
        so `fmtune jobs list` is current even when no CLI is attached. A store problem never fails a job."""
        self.write_status(status, reason, os.getpid())
        try:
            from fmtune.jobs.store import JobStore

            JobStore().record_own_status(self.root, json.loads(self.config.read_text()), status, reason)
        except Exception as err:  # the job's result matters more than its listing
            print(f"fmtune: could not record status {status} in the job store: {err}", file=sys.stderr)

    def write_status(self, status: str, reason: str | None, pid: int) -> None:
        """status.json alone, atomically (write a temp file, then rename)."""
        now = datetime.now(UTC).isoformat(timespec="seconds")
        record = {"status": status, "failure_reason": reason, "pid": pid, "updated": now}
        tmp = self.status_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(record) + "\n")
        tmp.replace(self.status_file)
