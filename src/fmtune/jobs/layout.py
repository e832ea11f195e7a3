"""What a job directory holds, in one place."""

from __future__ import annotations

import json
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
    def status_file(self) -> Path:
        return self.root / "status.json"

    def status(self) -> dict:
        return json.loads(self.status_file.read_text()) if self.status_file.exists() else {}

    def mark_completed(self) -> None:
        self._write_status("Completed", None)

    def mark_failed(self, reason: str) -> None:
        self._write_status("Failed", reason)

    def _write_status(self, status: str, reason: str | None) -> None:
        ended = datetime.now(UTC).isoformat(timespec="seconds")
        tmp = self.status_file.with_suffix(".tmp")
        tmp.write_text(json.dumps({"status": status, "failure_reason": reason, "ended": ended}) + "\n")
        tmp.replace(self.status_file)
