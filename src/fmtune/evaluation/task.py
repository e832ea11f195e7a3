"""Evaluation as a job kind (`fmtune evaluate JOB|MODEL`), run by the same start_job, runner and job store as
training. Its subject is a finished text job — the saved model and the base it was tuned from, scored on the job's
own held-out rows or on other data read as the job read its own — or a model as it is (catalog id, folder, hub id),
scored alone on data read as training that model would read it. It reads other jobs, so it lives above
fmtune.jobs and registers itself (the registry's plugin way): the front ends that start it and its recipe import
this module."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fmtune.config.evaluation import EvaluationSettings
from fmtune.data.channels import Conversation, Splits
from fmtune.errors import Problem, UserError
from fmtune.evaluation.metrics import ALL_METRICS
from fmtune.jobs.config import JobConfig
from fmtune.jobs.layout import JobLayout, job_layout
from fmtune.jobs.start import JobRequest, default_job_name, model_task_name, source_record
from fmtune.models.source import ModelSource, RemoteCode, resolve_source
from fmtune.tasks.registry import JobView, Task, find_task, get_task, register
from fmtune.tasks.text import TextTask, read_splits

EVALUATION = "evaluation"
DATA_FLAGS = ("instruction_tuned", "chat_dataset")  # how a model's evaluation data is read (a job has its own)


@dataclass(frozen=True)
class Subject:
    """What an evaluation scores, seen as the text job that reads its data: a finished job (`saved` holds its
    model/, tuned from `view`'s model), or a model with its text task's default hyperparameters (`saved` None)."""

    view: JobConfig
    saved: JobLayout | None


def evaluation_request(subject: str, data: str | Path | None, settings: Mapping[str, Any],
                       job_name: str | None = None, accept_eula: bool = False) -> JobRequest:
    """The evaluation job the CLI and the SDK start: settings left out (None) take their defaults. A job's base
    license was accepted when the job was started; a model's is accepted here."""
    layout = job_layout(subject)
    accepted = accept_eula or (layout is not None and JobConfig.load(layout.config).accept_eula)
    return JobRequest(subject, {"validation": data} if data is not None else {},
                      {k: str(v) for k, v in settings.items() if v is not None},
                      job_name=job_name or default_job_name(f"{Path(subject).name}-eval"), task=EVALUATION,
                      accept_eula=accepted)


def evaluation_subject(job: JobView) -> Subject:
    layout = job_layout(job.model)
    if layout is not None:
        return Subject(*trained_job(layout))
    return Subject(model_view(job), None)


def trained_job(layout: JobLayout) -> tuple[JobConfig, JobLayout]:
    """The finished text job in `layout`, or a UserError saying why it cannot be evaluated."""
    config = JobConfig.load(layout.config)
    if not isinstance(find_task(config.task), TextTask):
        raise UserError(f"job {config.job_name} is a {config.task} job; `fmtune evaluate` scores text jobs (a Stable "
                        "Diffusion job is evaluated at its end: previews base vs tuned, compute_fid).")
    if not layout.has_model():
        raise UserError(f"job {config.job_name} has no model/ to evaluate yet; `fmtune jobs describe "
                        f"{config.job_name}` says where it stands.")
    return config, layout


def subject_source(reference: str) -> ModelSource:
    """The model an evaluation loads first: a job's base (it is scored beside the job's saved model), or the
    model named."""
    layout = job_layout(reference)
    if layout is not None:
        return trained_job(layout)[0].model_source()
    try:
        return resolve_source(reference)
    except UserError as err:
        raise UserError(f"'{reference}' is not a job (`fmtune jobs list` shows them), and not a model: {err}") from None


def model_view(job: JobView) -> JobConfig:
    """A model that fmtune did not train, as a text job of its task would read `--data` (both channels)."""
    data = job.channels.get("validation")
    flags = {key: value for key in DATA_FLAGS if (value := getattr(job.hp, key)) is not None}
    if data is None:
        raise UserError(f"{job.model} is a model, not a job, so it has no held-out rows of its own: give the rows to "
                        "score it on with --data PATH (-H instruction_tuned=True for prompt/completion rows shaped by "
                        "template.json, -H chat_dataset=True for conversations; plain text otherwise).")
    source = job.model_source()
    task_name = model_task_name(source, RemoteCode(job.trust_remote_code, job.revision))
    task = get_task(task_name)
    if not isinstance(task, TextTask):
        raise UserError(f"{job.model} is a {task_name} model; `fmtune evaluate MODEL` scores text models.")
    defaults = source.card.default_hyperparameters if source.card else {}
    text_hp, _ = task.schema.resolve({**{k: str(v) for k, v in flags.items()}, "max_val_samples": "-1"}, defaults)
    return JobConfig(job_name=f"model {job.model}", model=job.model, task=task_name,
                     channels={"training": data, "validation": data}, hyperparameters=text_hp.to_strings(),
                     job_dir="", trust_remote_code=job.trust_remote_code, revision=job.revision,
                     source=source_record(source))


def evaluation_splits(job: JobView) -> Splits:
    """The rows to score (`.validation`) and the template they are shaped by: the job's own held-out rows, or
    the `validation` channel read as the job (or the model's task) reads its data — its mode, template, columns."""
    subject = evaluation_subject(job)
    data = job.channels.get("validation")
    if subject.saved is None or data is None:
        return read_splits(subject.view)
    every_row = {**subject.view.hyperparameters, "max_val_samples": "-1"}
    return read_splits(dataclasses.replace(subject.view, channels={"training": data, "validation": data},
                                           hyperparameters=every_row))


def check_evaluation_data(job: JobView) -> list[str]:
    subject = evaluation_subject(job)
    given = [key for key in DATA_FLAGS if getattr(job.hp, key) is not None]
    if subject.saved is not None and given:
        raise UserError(f"{', '.join(given)}: job {subject.view.job_name}'s data is read as it was trained; these "
                        "settings are for evaluating a model that is not a job. Drop them.")
    records = evaluation_splits(job).validation
    where = job.channels.get("validation", f"job {job.model}'s validation rows")
    if not records:
        raise UserError(f"{where}: no rows to evaluate; give a file or folder with rows in the job's format.")
    chats = [r for r in records if isinstance(r, Conversation)]
    if chats and not any(c.messages[-1]["role"] == "assistant" for c in chats):
        raise UserError(f"{where}: no conversation ends with an assistant reply, so there is no reference to score "
                        "answers against; end each row's messages with the expected assistant turn.")
    return []


def evaluation_rules(hp: EvaluationSettings, model: str) -> list[Problem]:
    problems = []
    unknown = [m for m in hp.metric_names() or () if m not in ALL_METRICS]
    if unknown:
        problems.append(Problem(f"metrics={hp.metrics!r}: {', '.join(unknown)} not known; choose from "
                                f"{', '.join(ALL_METRICS)}.", key="metrics", value=hp.metrics))
    from fmtune.evaluation.harness import harness_problems

    problems += [Problem(m, key="lm_eval_include", value=hp.lm_eval_include)
                 for m in harness_problems(hp.lm_eval_include, hp.harness_tasks())]
    if hp.judge_url is not None:
        from fmtune.evaluation.judge import JudgeSettings, check_judge

        try:  # before any model loads: an unreachable judge would waste the whole evaluation
            check_judge(JudgeSettings(hp.judge_url, hp.judge_model or ""))
        except UserError as err:
            problems.append(Problem(str(err), key="judge_url", value=hp.judge_url))
    return problems


TASK = register(Task(
    name=EVALUATION,
    description="a finished text job's model and its base (or a model alone), scored on held-out rows "
                "(report in eval/)",
    schema=EvaluationSettings,
    recipe="fmtune.recipes.evaluate",
    check_data=check_evaluation_data,
    rules=evaluation_rules,
    outputs=("report",),
    required_channels=(),
    model_source=subject_source,
))
