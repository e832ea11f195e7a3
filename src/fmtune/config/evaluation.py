"""The settings of an evaluation job (`fmtune evaluate JOB`): how many rows, how long the answers, which scores."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from fmtune.config.schema import Exclusive, Schema, spec


@dataclass(frozen=True)
class EvaluationSettings(Schema):
    rules: ClassVar[tuple[Exclusive, ...]] = ()

    evaluation_samples: int = spec(32, "Held-out rows the models answer (every row counts in the loss).", ge=1)
    evaluation_max_new_tokens: int = spec(128, "The most tokens each answer may have.", ge=1)
    metrics: str | None = spec(None, "Comma-separated generation metrics to report, e.g. 'rougeL,bleu'.",
                               none="all of them")
    compare_base: bool = spec(True, "Also score the base model the job was tuned from, side by side.")

    def metric_names(self) -> tuple[str, ...] | None:
        return None if self.metrics is None else tuple(m.strip() for m in self.metrics.split(",") if m.strip())
