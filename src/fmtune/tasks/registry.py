"""The task registry: what fmtune can fine-tune, as data. Each task declares its hyperparameter schema
(JumpStart names and string defaults), its rules beyond the schema, its data check, the recipe module
that trains it and the outputs a finished job holds. `retrieve_default`, `fmtune hyperparameters`,
validation, the runner and the docs read it; nothing else branches on a task's name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from fmtune.config.schema import Schema
from fmtune.errors import Problem, UserError


class JobView(Protocol):
    """What a task's checks read of a job (fmtune.jobs.config.JobConfig is one)."""

    task: str
    model: str
    channels: Mapping[str, str]
    trust_remote_code: bool
    revision: str | None

    @property
    def hp(self) -> Any: ...

    def model_source(self) -> Any: ...


def no_rules(hp: Schema, model: str) -> list[Problem]:
    return []


@dataclass(frozen=True)
class Task:
    name: str  # JumpStart's task name, as catalog cards give it ("text-generation", "text2text", ...)
    description: str
    schema: type[Schema]  # its hyperparameters
    recipe: str  # the module run as `python -m RECIPE --job-dir DIR [--resume]`
    check_data: Callable[[JobView], list[str]]  # parse the job's channels as the recipe will; notices
    rules: Callable[[Schema, str], list[Problem]] = no_rules  # (hyperparameters, model) -> problems
    outputs: tuple[str, ...] = ("model",)  # what a finished job's folder holds (JobLayout names)
    # For a model outside the catalog: does this task train a model with this config.json?
    trains_config: Callable[[Mapping[str, Any]], bool] | None = None
    # Studio's data preview: (job, rows) -> what training will see (counts, the first rows as rendered, lengths).
    preview: Callable[[JobView, int], dict[str, Any]] | None = None
    required_channels: tuple[str, ...] = ("training",)
    # A task whose subject is not a model to load but something else (evaluation: a finished job): the reference
    # -> the model source the job records. None: the reference is a model (catalog id, folder, hub id).
    model_source: Callable[[str], Any] | None = None


_TASKS: dict[str, Task] = {}


def register(task: Task) -> Task:
    """Add a task (a plugin or a test may add its own); its recipe module must register it too, since the
    recipe runs in a process of its own."""
    _TASKS[task.name] = task
    return task


def get_task(name: str) -> Task:
    task = _TASKS.get(name)
    if task is None:
        raise UserError(f"fine-tuning for the task '{name}' is not available in this version of fmtune "
                        f"(available: {', '.join(sorted(_TASKS))}).")
    return task


def find_task(name: str) -> Task | None:
    return _TASKS.get(name)


def all_tasks() -> tuple[Task, ...]:
    return tuple(_TASKS.values())


def task_for_config(config: Mapping[str, Any], where: str) -> Task:
    """The task that trains a brought model (its config.json), or a clear error naming what fmtune trains."""
    for task in _TASKS.values():
        if task.trains_config is not None and task.trains_config(config):
            return task
    trained = "; ".join(f"{t.name}: {t.description}" for t in _TASKS.values() if t.trains_config is not None)
    raise UserError(
        f"{where}: config.json has model_type {config.get('model_type')!r} (architectures "
        f"{config.get('architectures')}), which no fmtune task trains. Models outside the catalog are "
        f"fine-tuned as {trained}."
    )
