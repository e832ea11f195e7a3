"""What Studio does, as plain functions over fmtune's own parts (catalog, start_job, runner, job store, endpoint
launcher). The REST routes and the pages both call these; nothing here knows about HTTP."""

from __future__ import annotations

import json
import re
import shlex
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fmtune.evaluation.task  # noqa: F401  (evaluation jobs are listed, resumed and cloned here too)
from fmtune.catalog import ModelCard, find_card, get_card, search_cards
from fmtune.errors import ConfigError, Problem, UserError
from fmtune.jobs.layout import JobLayout
from fmtune.jobs.metrics import read_metrics
from fmtune.jobs.runner import POLL_S, settle_child
from fmtune.jobs.start import JobRequest, build_job, start_job
from fmtune.jobs.store import JobRecord, JobStore
from fmtune.jobs.views import FileTail, describe_job
from fmtune.studio.datasets import DATASET_ID, confined_path, get_dataset
from fmtune.studio.errors import StudioError
from fmtune.tasks import find_task, get_task

PREVIEW_ROWS = 5
PREVIEW_FILE = re.compile(r"[A-Za-z0-9._-]+\.(png|jpg|jpeg)")


@dataclass(frozen=True)
class JobSpec:
    """A job as Studio's form and `POST /api/v1/jobs` give it: JumpStart's names and string values."""

    model_id: str
    channels: Mapping[str, str]
    hyperparameters: Mapping[str, Any] = field(default_factory=dict)
    job_name: str | None = None
    accept_eula: bool = False
    tiny_random: bool = False


# --- models ----------------------------------------------------------------------------------------------------

def model_summary(card: ModelCard) -> dict[str, Any]:
    task = find_task(card.task)
    return {**card.to_dict(), "fine_tunable": task is not None,
            "task_description": task.description if task else "not fine-tunable in this version of fmtune"}


def list_models(search: str | None = None, task: str | None = None) -> list[dict[str, Any]]:
    return [model_summary(card) for card in search_cards(search, task)]


def model_detail(model_id: str) -> dict[str, Any]:
    """The card, the task's hyperparameters (each with this model's default) and the default run's memory."""
    from fmtune.models.memory import card_memory_estimate

    card = get_card(model_id)
    task = find_task(card.task)
    rows = task.schema.describe() if task else []
    defaults = {**(task.schema.defaults() if task else {}), **card.default_hyperparameters}
    shown = [{**row, "default": defaults[row["name"]], "jumpstart": row["name"] in card.default_hyperparameters}
             for row in rows]
    return {**model_summary(card), "hyperparameters": shown,
            "estimated_peak_memory": card_memory_estimate(card, card.default_hyperparameters)}


def memory_estimate(model_id: str, hyperparameters: Mapping[str, Any]) -> dict[str, Any]:
    """The memory a run with these settings needs (the settings checked first, every problem at once)."""
    from fmtune.models.memory import card_memory_estimate

    card = get_card(model_id)
    task = get_task(card.task)
    hp, _ = task.schema.resolve(hyperparameters, card.default_hyperparameters)
    return {"model_id": card.model_id, "estimated_peak_memory": card_memory_estimate(card, hp.to_strings())}


# --- jobs ------------------------------------------------------------------------------------------------------

def job_request(spec: JobSpec, roots: tuple[Path, ...]) -> JobRequest:
    """The JobRequest for a spec: each channel an uploaded dataset (`ds-…`, optionally `ds-…/sub/folder`) or a
    local path under the roots. Every channel problem is reported together, by channel."""
    channels, problems = {}, []
    for name, where in spec.channels.items():
        try:
            channels[name] = channel_path(str(where), roots)
        except UserError as err:
            problems.append(Problem(str(err), key=f"channels.{name}", value=str(where)))
    if problems:
        raise ConfigError(problems)
    return JobRequest(spec.model_id, channels, dict(spec.hyperparameters), job_name=spec.job_name or None,
                      accept_eula=spec.accept_eula, tiny_random=spec.tiny_random)


def channel_path(where: str, roots: tuple[Path, ...]) -> Path:
    head, _, rest = where.partition("/")
    if DATASET_ID.fullmatch(head):
        dataset = Path(get_dataset(head).path)
        return confined_path(str(dataset / rest), (dataset.resolve(),)) if rest else dataset
    return confined_path(where, roots)


def equivalent_code(spec: JobSpec, roots: tuple[Path, ...]) -> dict[str, str]:
    """The `fmtune train` command and the SDK code that start the same job (the settings that differ from the
    model's defaults only), for a person to copy into a script or a notebook."""
    request = job_request(spec, roots)
    card = find_card(spec.model_id)
    task = find_task(card.task if card else "")
    defaults = {**(task.schema.defaults() if task else {}), **(card.default_hyperparameters if card else {})}
    changed = {k: str(v) for k, v in (task.schema.changed_values(spec.hyperparameters, defaults) if task
                                      else spec.hyperparameters).items()}
    channels = {name: str(path) for name, path in request.channels.items()}
    cli = ["fmtune", "train", spec.model_id, "--training", channels.get("training", "PATH")]
    if "validation" in channels:
        cli += ["--validation", channels["validation"]]
    for key, value in changed.items():
        cli += ["-H", f"{key}={value}"]
    cli += ["--job-name", spec.job_name] if spec.job_name else []
    cli += ["--accept-eula"] * spec.accept_eula + ["--tiny-random"] * spec.tiny_random
    arguments = [f"    model_id={spec.model_id!r},", f"    hyperparameters={changed!r},"]
    if spec.accept_eula:
        arguments.append("    environment={'accept_eula': 'true'},")
    if spec.tiny_random:
        arguments.append("    tiny_random=True,  # fmtune only: a tiny random model (a pipeline test)")
    fit = f"estimator.fit({channels!r}" + (f", job_name={spec.job_name!r})" if spec.job_name else ")")
    sdk = "\n".join([
        "# JumpStart's notebook code with one import changed (was: from sagemaker.jumpstart.estimator import ...)",
        "from fmtune.sagemaker.jumpstart.estimator import JumpStartEstimator", "",
        "estimator = JumpStartEstimator(", *arguments, ")", fit,
    ])
    return {"cli": shlex.join(cli), "sdk": sdk}


def create_job(spec: JobSpec, roots: tuple[Path, ...]) -> dict[str, Any]:
    job = start_job(job_request(spec, roots), detach=True)
    return job_summary(JobStore().require(job.name))


def preview_data(spec: JobSpec, roots: tuple[Path, ...], rows: int = PREVIEW_ROWS) -> dict[str, Any]:
    """The spec's data as its training will read it (fmtune.tasks' preview). Settings problems come back as one
    ConfigError; a data problem as a UserError naming the file and line."""
    job = build_job(job_request(spec, roots))
    task = get_task(job.task)
    if task.preview is None:
        raise UserError(f"no data preview for {job.task} jobs.")
    return {"task": job.task, **task.preview(job, rows)}


def job_summary(record: JobRecord) -> dict[str, Any]:
    """describe_job plus what a list shows: task, progress and ETA (from steps.jsonl), best eval loss."""
    layout = JobLayout(Path(record.job_dir))
    steps = read_metrics(layout.steps)
    epochs = read_metrics(layout.metrics)
    losses = [r["eval_loss"] for r in epochs if isinstance(r.get("eval_loss"), int | float)]
    summary = {**describe_job(record), "task": record.config.get("task"),
               "tiny_random": bool(record.config.get("tiny_random")),
               "best_eval_loss": min(losses) if losses else None, **progress(steps, record)}
    summary["artifacts"] = [kind for kind in ARTIFACTS if ARTIFACTS[kind](layout).exists()]
    summary["previews"] = preview_names(layout)
    return summary


def progress(steps: list[dict[str, Any]], record: JobRecord) -> dict[str, Any]:
    """Steps done of planned, and the time left at the pace of this run's recent steps."""
    if not steps:
        return {"step": 0, "total_steps": None, "progress": 1.0 if record.status == "Completed" else 0.0,
                "eta_seconds": None}
    last = steps[-1]
    total = last.get("total_steps") or None
    done = last.get("step", 0)
    eta = None
    recent = [s for s in steps[-20:] if "time" in s]
    if total and record.active and len(recent) >= 2 and recent[-1]["step"] > recent[0]["step"]:
        pace = (recent[-1]["time"] - recent[0]["time"]) / (recent[-1]["step"] - recent[0]["step"])
        eta = max(0.0, round(pace * (total - done), 1))
    fraction = 1.0 if record.status == "Completed" else (min(done / total, 1.0) if total else 0.0)
    return {"step": done, "total_steps": total, "progress": fraction, "eta_seconds": eta}


def list_jobs() -> list[dict[str, Any]]:
    return [job_summary(record) for record in JobStore().list_jobs()]


def get_job(name: str) -> dict[str, Any]:
    return job_summary(JobStore().require(name))


def job_spec(name: str) -> JobSpec:
    """The spec that starts this job again ("new job from this one"): same model, data and settings, no name."""
    config = JobStore().require(name).config
    hp = config.get("hyperparameters", {})
    return JobSpec(config["model"], dict(config.get("channels", {})), dict(hp), None,
                   bool(config.get("accept_eula")), bool(config.get("tiny_random")))


def job_metrics(name: str) -> dict[str, Any]:
    layout = JobLayout(Path(JobStore().require(name).job_dir))
    return {"steps": read_metrics(layout.steps), "epochs": read_metrics(layout.metrics)}


def job_events(name: str, poll: float = POLL_S) -> Iterator[tuple[str, Any]]:
    """(event, data) as the job writes them: `log` lines, `step` and `epoch` records, `status` changes, then one
    `end` once the job is no longer running. A page that (re)connects gets everything from the start."""
    store = JobStore()
    layout = JobLayout(Path(store.require(name).job_dir))
    logs, steps = FileTail(layout.logs), FileTail(layout.steps)
    seen_epochs: set[Any] = set()
    status = None
    while True:
        settle_child(name)
        record = store.require(name)
        running = record.active
        for line in logs.read(final=not running):
            yield "log", line
        for line in steps.read(final=not running):
            try:
                yield "step", json.loads(line)
            except ValueError:  # cut by a crash; the resumed run writes it again
                continue
        for epoch in read_metrics(layout.metrics):
            if epoch.get("epoch") not in seen_epochs:
                seen_epochs.add(epoch.get("epoch"))
                yield "epoch", epoch
        if record.status != status:
            status = record.status
            yield "status", job_summary(record)
        if not running:
            yield "end", {"status": record.status}
            return
        time.sleep(poll)


ARTIFACTS = {
    "adapter": lambda layout: layout.adapter,
    "model": lambda layout: layout.model,
    "report": lambda layout: layout.report,
    "previews": lambda layout: layout.previews,
}


def artifact_path(name: str, kind: str) -> Path:
    if kind not in ARTIFACTS:
        raise StudioError(f"artifact {kind!r}: choose one of {', '.join(ARTIFACTS)}.", status=404)
    record = JobStore().require(name)
    path = ARTIFACTS[kind](JobLayout(Path(record.job_dir)))
    if not path.exists():
        raise StudioError(f"job {name} has no {kind} (status {record.status}); finished jobs have "
                          f"{', '.join(get_task(record.config['task']).outputs)}.", status=404)
    return path


def preview_names(layout: JobLayout) -> list[str]:
    folder = layout.previews
    return sorted(p.name for p in folder.iterdir() if PREVIEW_FILE.fullmatch(p.name)) if folder.is_dir() else []


def preview_file(name: str, file: str) -> Path:
    """One preview image of a text-to-image job; only names the job wrote there, never a path."""
    layout = JobLayout(Path(JobStore().require(name).job_dir))
    path = layout.previews / file
    if not PREVIEW_FILE.fullmatch(file) or path.is_symlink() or not path.is_file():
        raise StudioError(f"job {name} has no preview {file!r}.", status=404)
    return path


# --- endpoints -------------------------------------------------------------------------------------------------

def deploy(job: str | None = None, model: str | None = None, adapters: Mapping[str, str] | None = None,
           name: str | None = None) -> dict[str, Any]:
    """Serve a job (its base with the job's adapter, so base and tuned answer side by side; a fully fine-tuned
    job alone), a model, or a base with several adapters."""
    from fmtune.serve import start_endpoint

    if (job is None) == (model is None):
        raise ConfigError([Problem("give either `job` (a job name) or `model` (a model id, job or folder).",
                                   key="job")])
    if job is not None:
        model, adapters = job_deployment(job)
    assert model is not None
    endpoint = start_endpoint(model, adapters=dict(adapters or {}), name=name)
    return endpoint_summary(endpoint.name)


def job_deployment(name: str) -> tuple[str, dict[str, str]]:
    record = JobStore().require(name)
    layout = JobLayout(Path(record.job_dir))
    if not layout.has_model():
        raise UserError(f"job {name} has no model to serve yet (status {record.status}); deploy it once it has "
                        "Completed.")
    if not layout.adapter.is_dir():
        return str(layout.root), {}
    source = record.config.get("source", {})
    base = source["location"] if source.get("kind") in ("tiny-random", "local") else record.config["model"]
    return base, {name: str(layout.root)}


def list_endpoints() -> list[dict[str, Any]]:
    from fmtune.serve import list_endpoints as running

    return [endpoint_summary(record.name) for record in running()]


def endpoint_summary(name: str) -> dict[str, Any]:
    record = endpoint_record(name)
    try:
        models = endpoint_client(name).models()
    except Exception as err:  # still loading, or gone: the list says so instead of failing
        models, error = [], str(err)
    else:
        error = None
    return {"name": record.name, "url": record.url, "pid": record.pid, "model": record.model,
            "adapters": list(record.adapters), "models": models, "error": error,
            "task": endpoint_task(record.model)}


def endpoint_task(model: str) -> str:
    from fmtune.jobs.artifacts import model_dir
    from fmtune.models.source import is_pipeline

    try:
        return "text-to-image" if is_pipeline(model_dir(model)) else "text-generation"
    except UserError:
        return "text-generation"


def endpoint_record(name: str) -> Any:
    from fmtune.serve.registry import get_endpoint

    record = get_endpoint(name)
    if record is None:
        raise StudioError(f"no running endpoint named {name!r}; GET /api/v1/endpoints lists them.", status=404)
    return record


def endpoint_client(name: str) -> Any:
    from fmtune.serve.client import EndpointClient
    from fmtune.serve.registry import stored_key

    record = endpoint_record(name)
    return EndpointClient(record.url, stored_key(name), timeout=600)


def delete_endpoint(name: str) -> None:
    from fmtune.serve import stop_endpoint

    endpoint_record(name)
    stop_endpoint(name)


def compare(name: str, prompt: str, models: list[str], max_tokens: int = 128) -> list[dict[str, Any]]:
    """The same prompt to each model the endpoint serves (base and tuned), greedy, as the notebooks compare."""
    client = endpoint_client(name)
    answers = []
    for model in models:
        reply = client.chat([{"role": "user", "content": prompt}], model=model, max_tokens=max_tokens,
                            temperature=0)
        choice = reply["choices"][0]
        answers.append({"model": model, "text": choice["message"]["content"],
                        "finish_reason": choice.get("finish_reason")})
    return answers
