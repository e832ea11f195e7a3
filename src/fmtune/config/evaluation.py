"""The settings of an evaluation job (`fmtune evaluate JOB|MODEL`): how many rows, how long the answers, which
scores, and how to read the data of a model that was not trained by fmtune."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from fmtune.config.schema import Exclusive, Schema, spec


@dataclass(frozen=True)
class EvaluationSettings(Schema):
    rules: ClassVar[tuple[Exclusive, ...]] = (
        Exclusive(("instruction_tuned", True), ("chat_dataset", True),
                  "instruction_tuned=True and chat_dataset=True: the data is one or the other; set one of them."),
    )

    evaluation_samples: int = spec(32, "Held-out rows the models answer (every row counts in the loss).", ge=1)
    evaluation_max_new_tokens: int = spec(128, "The most tokens each answer may have.", ge=1)
    metrics: str | None = spec(None, "Comma-separated generation metrics to report, e.g. 'rougeL,bleu'.",
                               none="all of them")
    compare_base: bool = spec(True, "Also score the base model the job was tuned from, side by side (a job only).")
    instruction_tuned: bool | None = spec(
        None, "Evaluating a model (not a job): the data is prompt/completion rows shaped by template.json.",
        none="a job: as it was trained; a model: domain text")
    chat_dataset: bool | None = spec(
        None, "Evaluating a model (not a job): the data is conversations (messages).",
        none="a job: as it was trained; a model: domain text")
    judge_url: str | None = spec(
        None, "An OpenAI-compatible server (…/v1) whose model rates each answer 1-10 (docs/evaluation-judge.md); "
              "its key from $OPENAI_API_KEY.", none="no judge")
    judge_model: str | None = spec(None, "The judge's model name, as that server calls it.",
                                   none="the server's first model")

    lm_eval_include: str | None = spec(
        None, "A folder of lm-evaluation-harness task YAMLs over local files, run for the base and the tuned model "
              "(needs `pip install 'fmtune[lm-eval]'`).", none="no harness run")
    lm_eval_tasks: str | None = spec(None, "Comma-separated harness tasks from lm_eval_include.",
                                     none="every task the folder defines")

    def harness_tasks(self) -> tuple[str, ...] | None:
        return None if self.lm_eval_tasks is None else tuple(t.strip() for t in self.lm_eval_tasks.split(",")
                                                             if t.strip())

    def metric_names(self) -> tuple[str, ...] | None:
        return None if self.metrics is None else tuple(m.strip() for m in self.metrics.split(",") if m.strip())
