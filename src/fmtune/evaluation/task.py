"""Evaluation as a job kind (`fmtune evaluate JOB`): a finished text job's saved model, and the base it was tuned
from, scored on held-out rows — its own validation rows, or other data read as the job read its own — by the same
start_job, runner and job store as training. It reads other jobs, so it lives above fmtune.jobs and registers
itself (the registry's plugin way): the front ends that start it and its recipe import this module."""

from __future__ import annotations

import dataclasses
from typing import Any

from fmtune.config.evaluation import EvaluationSettings
from fmtune.data.channels import Conversation
from fmtune.errors import Problem, UserError
from fmtune.evaluation.metrics import ALL_METRICS
from fmtune.jobs.config import JobConfig
from fmtune.jobs.layout import JobLayout, job_layout
from fmtune.models.source import ModelSource
from fmtune.tasks.registry import JobView, Task, find_task, register
from fmtune.tasks.text import TextTask, read_splits

EVALUATION = "evaluation"


def trained_job(reference: str) -> tuple[JobConfig, JobLayout]:
    """The finished text job a reference names, or a UserError saying why it cannot be evaluated."""
    layout = job_layout(reference)
    if layout is None or not layout.config.exists():
        raise UserError(f"'{reference}' is not a job (name or folder); `fmtune jobs list` shows them.")
    config = JobConfig.load(layout.config)
    if not isinstance(find_task(config.task), TextTask):
        raise UserError(f"job {config.job_name} is a {config.task} job; `fmtune evaluate` scores text jobs (a Stable "
                        "Diffusion job has its previews and compute_fid).")
    if not layout.has_model():
        raise UserError(f"job {config.job_name} has no model/ to evaluate yet; `fmtune jobs describe "
                        f"{config.job_name}` says where it stands.")
    return config, layout


def job_source(reference: str) -> ModelSource:
    return trained_job(reference)[0].model_source()


def evaluation_records(job: JobView) -> list[Any]:
    """The rows to score: the job's own held-out rows, or the `validation` channel read as the job read its data
    (its mode, template and columns)."""
    trained, _ = trained_job(job.model)
    data = job.channels.get("validation")
    if data is None:
        return read_splits(trained).validation
    every_row = {**trained.hyperparameters, "max_val_samples": "-1"}
    return read_splits(dataclasses.replace(trained, channels={"training": data, "validation": data},
                                           hyperparameters=every_row)).validation


def check_evaluation_data(job: JobView) -> list[str]:
    records = evaluation_records(job)
    where = job.channels.get("validation", f"job {job.model}'s validation rows")
    if not records:
        raise UserError(f"{where}: no rows to evaluate; give a file or folder with rows in the job's format.")
    chats = [r for r in records if isinstance(r, Conversation)]
    if chats and not any(c.messages[-1]["role"] == "assistant" for c in chats):
        raise UserError(f"{where}: no conversation ends with an assistant reply, so there is no reference to score "
                        "answers against; end each row's messages with the expected assistant turn.")
    return []


def evaluation_rules(hp: EvaluationSettings, model: str) -> list[Problem]:
    unknown = [m for m in hp.metric_names() or () if m not in ALL_METRICS]
    if not unknown:
        return []
    return [Problem(f"metrics={hp.metrics!r}: {', '.join(unknown)} not known; choose from {', '.join(ALL_METRICS)}.",
                    key="metrics", value=hp.metrics)]


TASK = register(Task(
    name=EVALUATION,
    description="a finished text job's model and its base, scored on held-out rows (report in eval/)",
    schema=EvaluationSettings,
    recipe="fmtune.recipes.evaluate",
    check_data=check_evaluation_data,
    rules=evaluation_rules,
    outputs=("report",),
    required_channels=(),
    model_source=job_source,
))

