"""Did the fine-tune help? After training, the base and the tuned model answer the same held-out rows; the
answers are scored against the references and written, with the losses of both, to the job's eval/ folder
(metrics.json, predictions.jsonl), then rendered as eval/report.html."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fmtune.atomic import write_file_atomically
from fmtune.evaluation.generation import Answer, EvalPrompt, answer, eval_prompts
from fmtune.evaluation.metrics import corpus_scores, sample_scores
from fmtune.evaluation.report import HEADLINE, METRICS, write_report
from fmtune.jobs.layout import JobLayout
from fmtune.jobs.metrics import perplexity, read_metrics
from fmtune.models.loading import free_memory, load_pretrained

EVAL_BATCH = 8  # answers generated together


@dataclass(frozen=True)
class Generation:
    """How the answers are made: the same for both models."""

    max_new_tokens: int
    eos_ids: list[int]
    stop_strings: list[str]
    device: Any
    seq2seq: bool = False
    remote_code: dict[str, Any] = field(default_factory=dict)


def evaluate_saved_model(layout: JobLayout, base_dir: Path, tokenizer: Any, records: Sequence[Any],
                         log: Callable[[str], None], generation: Generation, *, samples: int, max_length: int,
                         chat_template: str | None = None) -> dict[str, Any]:
    """Answer up to `samples` held-out rows with the job's saved model/ (what `fmtune deploy` serves) and with the
    base in `base_dir`, one model in memory at a time; score both; write eval/ and the report; the scores."""
    prompts = eval_prompts(records[:samples], tokenizer, max_length, chat_template)
    log(f"evaluation: the base and the tuned model answer {len(prompts)} held-out rows "
        f"(up to {generation.max_new_tokens} new tokens each)")
    tuned = answers_of(layout.model, tokenizer, prompts, generation)
    before = answers_of(base_dir, tokenizer, prompts, generation)
    scores = {"base": {**loss_of(layout, tuned=False), **generation_scores(prompts, before)},
              "tuned": {**loss_of(layout, tuned=True), **generation_scores(prompts, tuned)},
              "samples": len(prompts), "max_new_tokens": generation.max_new_tokens}
    layout.evaluation.mkdir(exist_ok=True)
    rows = [prediction_row(p, b, t) for p, b, t in zip(prompts, before, tuned, strict=True)]
    write_file_atomically(layout.evaluation / "predictions.jsonl",
                          "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode())
    write_file_atomically(layout.evaluation / "metrics.json", (json.dumps(scores, indent=2) + "\n").encode())
    write_report(layout)
    log(summary_line(scores))
    log(f"evaluation report: {layout.report}")
    return scores


def answers_of(folder: Path, tokenizer: Any, prompts: Sequence[EvalPrompt], generation: Generation) -> list[Answer]:
    """Load the model in `folder`, answer, and free it before the next one loads."""
    if not prompts:
        return []
    model = load_pretrained(folder, generation.device, seq2seq=generation.seq2seq, **generation.remote_code)
    model.config.use_cache = True
    model.eval()
    try:
        return answer(model, tokenizer, prompts, max_new_tokens=generation.max_new_tokens,
                      eos_ids=generation.eos_ids, stop_strings=generation.stop_strings, batch_size=EVAL_BATCH)
    finally:
        del model
        free_memory()


def loss_of(layout: JobLayout, *, tuned: bool) -> dict[str, float]:
    """The validation loss of the base (epoch 0: the untrained model) or of the tuned model (the best epoch, the
    one saved), from the job's own per-epoch records."""
    records = [r for r in read_metrics(layout.metrics) if isinstance(r.get("eval_loss"), int | float)]
    chosen = [r for r in records if (r["epoch"] > 0) == tuned]
    if not chosen:
        return {}
    loss = min(r["eval_loss"] for r in chosen) if tuned else chosen[0]["eval_loss"]
    return {"eval_loss": loss, "perplexity": perplexity(loss)}


def generation_scores(prompts: Sequence[EvalPrompt], answers: Sequence[Answer]) -> dict[str, float]:
    if not prompts:
        return {}
    texts, references = [a.text for a in answers], [p.reference for p in prompts]
    return {**corpus_scores(texts, references), "stopped": sum(a.stopped for a in answers) / len(answers)}


def prediction_row(prompt: EvalPrompt, base: Answer, tuned: Answer) -> dict[str, Any]:
    return {"origin": prompt.origin, "input": prompt.input, "reference": prompt.reference,
            "base": base.text, "tuned": tuned.text, "base_stopped": base.stopped, "tuned_stopped": tuned.stopped,
            "base_scores": sample_scores(base.text, prompt.reference),
            "tuned_scores": sample_scores(tuned.text, prompt.reference)}


def summary_line(scores: dict[str, Any]) -> str:
    """One line for the log: each headline metric base → tuned."""
    parts = [f"{label} {fmt.format(scores['base'][key])} → {fmt.format(scores['tuned'][key])}"
             for key, label, fmt, _ in METRICS if key in HEADLINE and key in scores["base"] and key in scores["tuned"]]
    return f"evaluation on {scores['samples']} held-out rows (base → tuned): " + ", ".join(parts)
