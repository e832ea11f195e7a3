"""Did the fine-tune help? The tuned model and its base are scored on the same held-out rows: their validation
loss over every row, and their answers to the first `samples` rows against the references. The results go to an
eval/ folder (metrics.json, predictions.jsonl) and are drawn as eval/report.html. Training runs this at its end
(fmtune.recipes.export.evaluate_outputs); `fmtune evaluate JOB` runs it as a job of its own."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from fmtune.atomic import write_file_atomically
from fmtune.data.batching import collate, collate_seq2seq
from fmtune.data.encode import Encoded, encode_split
from fmtune.evaluation.generation import Answer, EvalPrompt, answer, eval_prompts
from fmtune.evaluation.metrics import corpus_scores, sample_scores
from fmtune.evaluation.report import HEADLINE, METRICS, write_report
from fmtune.jobs.layout import JobLayout
from fmtune.jobs.metrics import perplexity
from fmtune.models.loading import for_inference, free_memory, load_pretrained
from fmtune.training.losses import causal_loss_sum, seq2seq_loss_sum

EVAL_BATCH = 8  # answers generated together
LOSS_BATCH = 4  # rows scored together (their full logits are held)


@dataclass(frozen=True)
class Evaluation:
    """What is evaluated and how: the same for both models."""

    tuned_dir: Path  # the saved model (what `fmtune deploy` serves)
    base_dir: Path | None  # None: the tuned model alone
    mode: str  # the data's mode as trained: "domain", "instruction" or "chat"
    samples: int  # rows answered (every row counts in the loss)
    max_new_tokens: int
    max_length: int
    eos_ids: list[int]
    stop_strings: list[str]
    device: Any
    seq2seq: bool = False
    chat_template: str | None = None
    metrics: tuple[str, ...] | None = None  # reported generation metrics (None: all)
    remote_code: dict[str, Any] = field(default_factory=dict)


def evaluate(plan: Evaluation, tokenizer: Any, records: Sequence[Any], out: JobLayout,
             log: Callable[[str], None]) -> dict[str, Any]:
    """Score the tuned model (and the base) on `records`, one model in memory at a time; write `out`'s eval/ and
    report; the scores."""
    examples, _ = encode_split(records, plan.mode, tokenizer, plan.max_length, chat_template=plan.chat_template,
                               seq2seq=plan.seq2seq)
    prompts = eval_prompts(records[: plan.samples], tokenizer, plan.max_length, plan.chat_template)
    log(f"evaluation: {'the base and ' if plan.base_dir else ''}the tuned model: loss over {len(examples)} held-out "
        f"sequences, answers to {len(prompts)} rows (up to {plan.max_new_tokens} new tokens each)")
    tuned_loss, tuned = score_model(plan.tuned_dir, plan, tokenizer, examples, prompts)
    scores: dict[str, Any] = {"tuned": model_scores(tuned_loss, prompts, tuned, plan.metrics),
                              "samples": len(prompts), "max_new_tokens": plan.max_new_tokens}
    before: list[Answer] | None = None
    if plan.base_dir is not None:
        base_loss, before = score_model(plan.base_dir, plan, tokenizer, examples, prompts)
        scores["base"] = model_scores(base_loss, prompts, before, plan.metrics)
    out.evaluation.mkdir(parents=True, exist_ok=True)
    rows = [prediction_row(p, b, t) for p, b, t in zip(prompts, before or [None] * len(prompts), tuned, strict=True)]
    write_file_atomically(out.evaluation / "predictions.jsonl",
                          "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode())
    write_file_atomically(out.evaluation / "metrics.json", (json.dumps(scores, indent=2) + "\n").encode())
    write_report(out)
    log(summary_line(scores))
    log(f"evaluation report: {out.report}")
    return scores


def score_model(folder: Path, plan: Evaluation, tokenizer: Any, examples: list[Encoded],
                prompts: Sequence[EvalPrompt]) -> tuple[float | None, list[Answer]]:
    """Load the model in `folder`; its mean validation loss and its answers; free it before the next one loads."""
    model = for_inference(load_pretrained(folder, plan.device, seq2seq=plan.seq2seq, **plan.remote_code))
    try:
        loss = mean_loss(model, examples, tokenizer.pad_token_id, plan.seq2seq)
        answers = answer(model, tokenizer, prompts, max_new_tokens=plan.max_new_tokens, eos_ids=plan.eos_ids,
                         stop_strings=plan.stop_strings, batch_size=EVAL_BATCH) if prompts else []
        return loss, answers
    finally:
        del model
        free_memory()


@torch.no_grad()
def mean_loss(model: Any, examples: list[Encoded], pad_id: int, seq2seq: bool) -> float | None:
    """The mean cross-entropy per target token, as training's evaluation computes it (the same loss functions)."""
    if not examples:
        return None
    device = next(model.parameters()).device
    total, count = 0.0, 0
    for start in range(0, len(examples), LOSS_BATCH):
        chunk = examples[start : start + LOSS_BATCH]
        batch = {k: v.to(device) for k, v in (collate_seq2seq if seq2seq else collate)(chunk, pad_id).items()}
        loss, n = seq2seq_loss_sum(model, batch) if seq2seq else causal_loss_sum(model, batch)
        total += float(loss)
        count += n
    return total / max(count, 1)


def model_scores(loss: float | None, prompts: Sequence[EvalPrompt], answers: Sequence[Answer],
                 metrics: tuple[str, ...] | None) -> dict[str, float]:
    scores = {} if loss is None else {"eval_loss": loss, "perplexity": perplexity(loss)}
    if prompts:
        texts, references = [a.text for a in answers], [p.reference for p in prompts]
        generated = {**corpus_scores(texts, references), "stopped": sum(a.stopped for a in answers) / len(answers)}
        scores |= {k: v for k, v in generated.items() if metrics is None or k in metrics or k == "stopped"}
    return scores


def prediction_row(prompt: EvalPrompt, base: Answer | None, tuned: Answer) -> dict[str, Any]:
    row = {"origin": prompt.origin, "input": prompt.input, "reference": prompt.reference, "tuned": tuned.text,
           "tuned_stopped": tuned.stopped, "tuned_scores": sample_scores(tuned.text, prompt.reference)}
    if base is not None:
        row |= {"base": base.text, "base_stopped": base.stopped,
                "base_scores": sample_scores(base.text, prompt.reference)}
    return row


def summary_line(scores: dict[str, Any]) -> str:
    """One line for the log: each headline metric (base → tuned)."""
    base, tuned = scores.get("base"), scores["tuned"]
    parts = [f"{label} " + (f"{fmt.format(base[key])} → " if base and key in base else "") + fmt.format(tuned[key])
             for key, label, fmt, _ in METRICS if key in HEADLINE and key in tuned]
    which = "base → tuned" if base else "tuned"
    return f"evaluation on {scores['samples']} held-out rows ({which}): " + ", ".join(parts)
