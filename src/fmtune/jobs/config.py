"""JobConfig: the one description of a job that start_job resolves, config.json holds and the recipe trusts."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

from fmtune.atomic import write_file_atomically
from fmtune.catalog import find_card
from fmtune.models.source import ModelSource, resolve_source
from fmtune.tasks import get_task


@dataclass(frozen=True)
class Launch:
    """How many processes train the job: torchrun's `--nproc-per-node` and, across machines, its static
    rendezvous (`--nnodes --node-rank --master-addr --master-port`). The same on every node but node_rank."""

    nproc_per_node: int = 1
    nnodes: int = 1
    node_rank: int = 0
    master_addr: str = "127.0.0.1"
    master_port: int = 29500

    def problems(self, enable_fsdp: bool) -> list[str]:
        found = []
        if self.nproc_per_node < 1 or self.nnodes < 1:
            found.append(f"--nproc {self.nproc_per_node} / --nnodes {self.nnodes}: both must be at least 1.")
        if not 0 <= self.node_rank < self.nnodes:
            found.append(f"--node-rank {self.node_rank}: must be between 0 and --nnodes - 1 ({self.nnodes - 1}).")
        if not 1 <= self.master_port <= 65535:
            found.append(f"--master-port {self.master_port}: must be a TCP port (1-65535).")
        if (self.nproc_per_node > 1 or self.nnodes > 1) and not enable_fsdp:
            found.append("several processes train with FSDP: set -H enable_fsdp=True (or run one process).")
        return found


@dataclass(frozen=True)
class JobConfig:
    job_name: str
    model: str  # catalog id, local folder or hub id, as the user gave it
    task: str  # a registered task (fmtune.tasks): text-generation, text2text, ...
    channels: dict[str, str]  # channel name -> absolute path
    hyperparameters: dict[str, str]  # resolved, JumpStart strings (card defaults + user values)
    job_dir: str
    accept_eula: bool = False
    tiny_random: bool = False  # train a tiny randomly initialised model of the architecture (a pipeline test)
    trust_remote_code: bool = False  # run the model repo's own Python code (needs a pinned revision)
    revision: str | None = None
    launch: Launch = field(default_factory=Launch)
    notices: list[str] = field(default_factory=list)  # decisions the user should read (logged by the recipe)
    # Resolved once by start_job, so that the recipe decides nothing again: where the weights come from
    # ({"kind", "location"}: fmtune.models.source) and a fingerprint of the channels' files.
    source: dict[str, str] = field(default_factory=dict)
    data_fingerprint: str = ""
    # What the recipe decided by measurement (precision=auto's verdict and why), written back to config.json so
    # that the job's record says what ran and a resumed job decides the same.
    decided: dict[str, str] = field(default_factory=dict)
    created: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    @cached_property
    def hp(self) -> Any:
        """The resolved hyperparameters, typed by the task's schema (parsed once)."""
        return get_task(self.task).schema.parse(self.hyperparameters)

    def model_source(self) -> ModelSource:
        """Where the weights come from, as start_job resolved it (an older config.json: resolved now)."""
        if not self.source:
            return resolve_source(self.model, tiny_random=self.tiny_random)
        return ModelSource(self.model, self.source["kind"], find_card(self.model), self.source["location"])

    def record_decisions(self, decisions: dict[str, str]) -> None:
        """Add `decisions` to `decided` and rewrite config.json in the job folder."""
        self.decided.update(decisions)
        self.save(Path(self.job_dir) / "config.json")

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    def save(self, path: Path) -> None:
        write_file_atomically(path, (self.to_json() + "\n").encode())  # readers never see half a file

    @classmethod
    def load(cls, path: Path) -> JobConfig:
        values = json.loads(path.read_text())
        return cls(**{**values, "launch": Launch(**values.get("launch", {}))})
