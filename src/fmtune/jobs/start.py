"""start_job: the one call every front end makes (CLI, SDK, Studio, REST) to start a job.

It validates everything once, before anything expensive: the model (and its license), the task's
hyperparameters over the model's defaults, the task's rules, the job name and folder, the launch, and the
data, parsed as the recipe will parse it. Every problem comes back at once, each with the key it concerns
(`ConfigError.details`: [{key, value, message}]). What it resolved — the model source, every hyperparameter,
the data's fingerprint, the notices — goes into config.json, which the recipe then trusts.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fmtune.data.channels import normalize_channels
from fmtune.errors import ConfigError, Problem, UserError
from fmtune.jobs import runner
from fmtune.jobs.config import JobConfig, Launch
from fmtune.jobs.layout import JobLayout
from fmtune.models.source import ModelSource, RemoteCode, brought_model_config, resolve_source
from fmtune.paths import jobs_dir
from fmtune.storage import fetch, is_s3
from fmtune.tasks import find_task, get_task, task_for_config

JOB_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,62}")  # SageMaker's training-job name rule (full match)


@dataclass(frozen=True)
class JobRequest:
    """What a front end asks for: JumpStart's names and string values, as the user gave them."""

    model: str  # catalog id, local folder or hub id
    channels: Mapping[str, str | Path]
    hyperparameters: Mapping[str, Any] = field(default_factory=dict)
    job_name: str | None = None
    output_dir: str | Path | None = None
    accept_eula: bool = False
    tiny_random: bool = False  # a tiny randomly initialised model of the architecture (a pipeline test)
    trust_remote_code: bool = False
    revision: str | None = None
    launch: Launch = field(default_factory=Launch)
    task: str | None = None  # default: the model's own task


@dataclass(frozen=True)
class Job:
    config: JobConfig
    exit_code: int | None  # how a foreground run ended; None for a detached one (still running)

    @property
    def name(self) -> str:
        return self.config.job_name


def start_job(
    request: JobRequest, *, detach: bool = True, announce: Callable[[JobConfig], None] | None = None
) -> Job:
    """Validate everything, record it in the job store and config.json, and start the recipe. Detached: return
    at once (the job runs in its own session); foreground: stream its output here and return when it ends.
    `announce` hears of the job once it is valid, before it starts (a front end says where it will be)."""
    job = prepare_job(request)
    if announce is not None:
        announce(job)
    code = runner.submit(job, detach=detach)
    return Job(job, None if detach else code)


def prepare_job(request: JobRequest) -> JobConfig:
    """Every check start_job makes, without starting anything: the resolved job, or one ConfigError."""
    job = build_job(request)
    task = get_task(job.task)
    notices = [n for n in task.check_data(job) if n not in job.notices]
    return dataclasses.replace(job, notices=[*job.notices, *notices],
                               data_fingerprint=fingerprint_channels(job.channels))


def build_job(request: JobRequest) -> JobConfig:
    """The checks that need no data parsing; all problems together."""
    if request.trust_remote_code and not request.revision:
        raise ConfigError([Problem(
            "--trust-remote-code runs Python code from the model repository: pin it with --revision <commit sha> "
            "so that the code cannot change under you.", key="revision")])
    explicit = find_task(request.task) if request.task else None
    subject = explicit.model_source if explicit is not None else None  # a task about a finished job, not a model
    # unknown: other checks are moot
    source = subject(request.model) if subject else resolve_source(request.model, tiny_random=request.tiny_random)
    card = source.card
    problems: list[Problem | str] = []
    model_task = request.task if subject else model_task_name(source, RemoteCode(request.trust_remote_code,
                                                                                 request.revision))
    task_name = request.task or model_task
    task = find_task(task_name)
    hp, notices = None, []
    if task is not None:
        defaults = card.default_hyperparameters if card and task_name == card.task else {}
        try:
            hp, notices = task.schema.resolve(request.hyperparameters, defaults)
        except ConfigError as err:
            problems.extend(err.details)
    else:
        what = f"{card.model_id}: {card.display_name}" if card else request.model
        problems.append(Problem(
            f"{what} ({task_name}) fine-tuning is not available in this version of fmtune; choose a text model "
            "(`fmtune models --task text-generation`).", key="model", value=request.model))
    if card and card.eula_required and not request.accept_eula:
        problems.append(Problem(
            f"{card.model_id} requires accepting its end-user license agreement ({card.license} license). "
            "Read it, then pass --accept-eula (SDK: environment={'accept_eula': 'true'}).", key="accept_eula"))
    if task is not None and hp is not None:
        problems.extend(task.rules(hp, request.model))
    name = request.job_name or default_job_name(card.model_id if card else Path(request.model).name)
    if not JOB_NAME.fullmatch(name):
        problems.append(Problem(f"job name {name!r}: use 1-63 letters, digits and hyphens, starting with a letter "
                                "or digit.", key="job_name", value=name))
    job_dir = Path(request.output_dir).expanduser().resolve() if request.output_dir else jobs_dir() / name
    problems.extend(Problem(p, key="output_dir", value=str(job_dir)) for p in _job_dir_problems(job_dir))
    try:
        # s3:// channels are fetched into the local cache first (fmtune.storage): the data is checked as read.
        fetched = {name: fetch(str(where)) if is_s3(where) else where for name, where in request.channels.items()}
        required = task.required_channels if task is not None else ("training",)
        channels = {k: str(v) for k, v in normalize_channels(fetched, required).items()}
    except UserError as err:
        problems.append(Problem(str(err), key="channels"))
        channels = {}
    if hp is not None:
        fsdp = bool(getattr(hp, "enable_fsdp", False))  # a task without FSDP runs in one process
        problems.extend(Problem(p, key="launch") for p in request.launch.problems(fsdp))
    if problems:
        raise ConfigError(problems)
    assert hp is not None
    return JobConfig(
        job_name=name,
        model=request.model,
        task=task_name,
        channels=channels,
        hyperparameters=hp.to_strings(),
        job_dir=str(job_dir),
        accept_eula=request.accept_eula,
        tiny_random=request.tiny_random,
        trust_remote_code=request.trust_remote_code,
        revision=request.revision,
        launch=request.launch,
        notices=notices,
        source=source_record(source),
    )


def model_task_name(source: ModelSource, remote_code: RemoteCode) -> str:
    """The task that trains a model: its card's, or the one its config.json names (fmtune.tasks.task_for_config)."""
    if source.card:
        return source.card.task
    return task_for_config(brought_model_config(source, remote_code), source.location).name


def source_record(source: ModelSource) -> dict[str, str]:
    return {"kind": source.kind, "location": source.location}


def fingerprint_channels(channels: Mapping[str, str]) -> str:
    """Changes whenever a channel's files change (names, sizes, contents)."""
    digest = hashlib.sha256()
    for name, location in sorted(channels.items()):
        root = Path(location)
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for file in files:
            digest.update(f"{name}:{file.relative_to(root.parent)}:{file.stat().st_size}\n".encode())
            with file.open("rb") as data:
                for block in iter(lambda data=data: data.read(1 << 20), b""):
                    digest.update(block)
    return digest.hexdigest()


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
    what = "a finished job" if JobLayout(job_dir).model.exists() else "files"
    return [f"output dir {job_dir} already holds {what}; fmtune never overwrites it. Choose a new --output-dir "
            "or --job-name."]
