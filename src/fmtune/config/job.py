"""JobConfig: the one description of a fine-tuning job that every front end builds and the runner reads."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fmtune.config.hyperparameters import Hyperparameters, parse_hyperparameters, resolve_hyperparameters
from fmtune.errors import ConfigError, UserError
from fmtune.paths import jobs_dir

if TYPE_CHECKING:
    from fmtune.data.channels import Mode, Splits

JOB_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,62}")  # SageMaker's training-job name rule (full match)


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
    task: str  # text-generation | text2text
    channels: dict[str, str]  # channel name -> absolute path
    hyperparameters: dict[str, str]  # resolved, JumpStart strings (card defaults + user values)
    job_dir: str
    accept_eula: bool = False
    tiny_random: bool = False  # train a tiny randomly initialised model of the architecture (a pipeline test)
    trust_remote_code: bool = False  # run the model repo's own Python code (needs a pinned revision)
    revision: str | None = None
    launch: Launch = field(default_factory=Launch)
    notices: list[str] = field(default_factory=list)  # decisions the user should read (logged by the recipe)
    created: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    @cached_property
    def hp(self) -> Hyperparameters:
        return parse_hyperparameters(self.hyperparameters)

    def read_splits(self, mode: Mode | None = None) -> Splits:
        """The job's data exactly as its recipe reads it: the one call the early check and the recipe make."""
        from fmtune.data.channels import data_mode, load_splits

        hp = self.hp
        return load_splits(
            {name: Path(location) for name, location in self.channels.items()},
            mode or data_mode(hp.instruction_tuned, hp.chat_dataset),
            task=self.task,
            demarcation=hp.add_input_output_demarcation_key,
            validation_split_ratio=hp.validation_split_ratio,
            train_data_split_seed=hp.train_data_split_seed,
            max_train_samples=hp.max_train_samples,
            max_val_samples=hp.max_val_samples,
            text_column=hp.text_column,
        )

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    def save(self, path: Path) -> None:
        path.write_text(self.to_json() + "\n")

    @classmethod
    def load(cls, path: Path) -> JobConfig:
        values = json.loads(path.read_text())
        return cls(**{**values, "launch": Launch(**values.get("launch", {}))})


def build_job(
    model: str,
    channels: Mapping[str, str | Path],
    hyperparameters: Mapping[str, Any] | None = None,
    *,
    job_name: str | None = None,
    output_dir: str | Path | None = None,
    accept_eula: bool = False,
    tiny_random: bool = False,
    trust_remote_code: bool = False,
    revision: str | None = None,
    launch: Launch | None = None,
) -> JobConfig:
    """Check everything that can be checked without loading a model; report all problems together."""
    from fmtune.data.channels import normalize_channels
    from fmtune.models.source import RemoteCode, brought_model_task, resolve_source

    problems: list[str] = []
    if trust_remote_code and not revision:
        raise ConfigError([
            "--trust-remote-code runs Python code from the model repository: pin it with --revision <commit sha> "
            "so that the code cannot change under you."
        ])
    source = resolve_source(model, tiny_random=tiny_random)  # an unknown model makes every other check moot
    card = source.card
    hp: Hyperparameters | None = None
    notices: list[str] = []
    try:
        hp, notices = resolve_hyperparameters(hyperparameters or {}, card.default_hyperparameters if card else {})
    except ConfigError as err:
        problems.extend(err.problems)
    task = card.task if card else brought_model_task(source, RemoteCode(trust_remote_code, revision))
    if card and card.task == "text-to-image":
        problems.append(
            f"{card.model_id}: {card.display_name} fine-tuning (DreamBooth) is not available in this version "
            "of fmtune; choose a text model (`fmtune models --task text-generation`)."
        )
    if card and card.eula_required and not accept_eula:
        problems.append(
            f"{card.model_id} requires accepting its end-user license agreement ({card.license} license). "
            "Read it, then pass --accept-eula (SDK: environment={'accept_eula': 'true'})."
        )
    if hp is not None and task == "text2text" and not hp.instruction_tuned:
        problems.append(
            f"{model} is an encoder-decoder (text2text) model: domain adaptation on raw text does not apply. "
            "Set instruction_tuned=True and give prompt/completion rows."
        )
    name = job_name or default_job_name(card.model_id if card else Path(model).name)
    if not JOB_NAME.fullmatch(name):
        problems.append(
            f"job name {name!r}: use 1-63 letters, digits and hyphens, starting with a letter or digit."
        )
    job_dir = Path(output_dir).expanduser().resolve() if output_dir else jobs_dir() / name
    problems.extend(_job_dir_problems(job_dir))
    try:
        resolved_channels = {k: str(v) for k, v in normalize_channels(channels).items()}
    except UserError as err:
        problems.append(str(err))
        resolved_channels = {}
    launch = launch or Launch()
    if hp is not None:
        problems.extend(launch.problems(hp.enable_fsdp))
    if problems:
        raise ConfigError(problems)
    assert hp is not None
    return JobConfig(
        job_name=name,
        model=model,
        task=task,
        channels=resolved_channels,
        hyperparameters=hp.to_strings(),
        job_dir=str(job_dir),
        accept_eula=accept_eula,
        tiny_random=tiny_random,
        trust_remote_code=trust_remote_code,
        revision=revision,
        launch=launch,
        notices=notices,
    )


def default_job_name(model: str) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S-%f")[:-3]
    base = re.sub(r"[^A-Za-z0-9-]+", "-", model).strip("-")[: 63 - len(stamp) - 1] or "job"
    return f"{base}-{stamp}"


def _job_dir_problems(job_dir: Path) -> list[str]:
    """Never write into a folder that already holds a job (finished or not) or other files."""
    if not job_dir.exists():
        return []
    if not job_dir.is_dir():
        return [f"output dir {job_dir} is a file; choose a new folder."]
    if not any(job_dir.iterdir()):
        return []
    what = "a finished job" if (job_dir / "model").exists() else "files"
    return [f"output dir {job_dir} already holds {what}; fmtune never overwrites it. Choose a new --output-dir "
            "or --job-name."]
