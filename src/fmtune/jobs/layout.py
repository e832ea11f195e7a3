"""What a job directory holds, in one place."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from fmtune.atomic import write_file_atomically
from fmtune.paths import jobs_dir


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
    def steps(self) -> Path:
        """One record per optimizer step (the training loss curve)."""
        return self.root / "steps.jsonl"

    @property
    def adapter(self) -> Path:
        return self.root / "adapter"

    @property
    def model(self) -> Path:
        return self.root / "model"

    @property
    def previews(self) -> Path:
        """Images generated during training (text-to-image jobs)."""
        return self.root / "previews"

    @property
    def evaluation(self) -> Path:
        """eval/: metrics.json (base and tuned), predictions.jsonl (each row's answers and scores), report.html."""
        return self.root / "eval"

    @property
    def report(self) -> Path:
        return self.evaluation / "report.html"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    def is_job(self) -> bool:
        """A job folder: its status was recorded there, or it holds a job's outputs."""
        return self.status_file.exists() or self.model.is_dir() or self.adapter.is_dir()

    def has_model(self) -> bool:
        """Whether the job's model/ export is there (written whole, or not at all): a transformers model or a
        diffusers pipeline."""
        return (self.model / "config.json").exists() or (self.model / "model_index.json").exists()

    @property
    def status_file(self) -> Path:
        return self.root / "status.json"

    def status(self) -> dict:
        """What the job last recorded itself ({} when nothing readable is there)."""
        try:
            return json.loads(self.status_file.read_text())
        except (OSError, ValueError):
            return {}

    def write_status(self, status: str, reason: str | None, pid: int) -> None:
        """status.json alone, atomically (write a temp file, then rename)."""
        now = datetime.now(UTC).isoformat(timespec="seconds")
        record = {"status": status, "failure_reason": reason, "pid": pid, "updated": now}
        write_file_atomically(self.status_file, (json.dumps(record) + "\n").encode())


def job_layout(reference: str) -> JobLayout | None:
    """The job a reference names (a job folder, or a job name under FMTUNE_HOME/jobs), if it names one."""
    for candidate in (Path(reference).expanduser(), jobs_dir() / reference):
        layout = JobLayout(candidate)
        if layout.is_job():
            return layout
    return None
