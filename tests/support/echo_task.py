"""A trivial task, added the way any task is: one registered record (schema, data check, recipe, outputs) and
a recipe module. The registry test runs it end to end through start_job."""

from __future__ import annotations

import sys
from dataclasses import dataclass

from fmtune.config.schema import Schema, spec
from fmtune.jobs.metrics import record_metrics
from fmtune.recipes.lifecycle import recipe_main
from fmtune.tasks.registry import Task, register


@dataclass(frozen=True)
class EchoHyperparameters(Schema):
    lines: int = spec(3, "How many lines (and metric records) the job writes.", ge=1, le=100)
    word: str = spec("hello", "What each line says.", choices=("hello", "goodbye"))


def check_data(job) -> list[str]:
    return [f"echo: {len(job.channels)} channel(s) to echo"]


ECHO = register(Task(
    name="echo",
    description="writes lines: a stand-in for a new kind of job",
    schema=EchoHyperparameters,
    recipe="tests.support.echo_task",
    check_data=check_data,
    outputs=("model",),
))


def run(job, layout, log, stop, resume: bool = False) -> None:
    for notice in job.notices:
        log(f"note: {notice}")
    for i in range(1, job.hp.lines + 1):
        log(f"{job.hp.word} {i}")
        record_metrics(layout.metrics, {"epoch": i, "train_loss": 1.0 / i, "eval_loss": 1.0 / i})
    layout.model.mkdir()
    (layout.model / "config.json").write_text("{}\n")


if __name__ == "__main__":
    sys.exit(recipe_main(run, "tests.support.echo_task"))
