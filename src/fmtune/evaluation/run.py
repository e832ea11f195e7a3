"""Did the fine-tune help? The tuned model and its base are scored on the same held-out rows: their validation
loss over every row, and their answers to the first `samples` rows against the references. The results go to an
eval/ folder (metrics.json, predictions.jsonl) and are drawn as eval/report.html. Training runs this at its end
(fmtune.recipes.export.evaluate_outputs); `fmtune evaluate JOB` runs it as a job of its own."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from fmtune.atomic import write_file_atomically
from fmtune.data.batching import collate, collate_seq2seq
from fmtune.data.encode import Encoded, encode_split
from fmtune.evaluation.generation import Answer, EvalPrompt, answer, eval_prompts
from fmtune.evaluation.harness import run_harness
from fmtune.evaluation.judge import JudgeSettings, Verdict, judge, judge_scores
from fmtune.evaluation.metrics import corpus_scores, sample_scores
from fmtune.evaluation.report import HEADLINE, METRICS, write_report
from fmtune.jobs.layout import JobLayout
from fmtune.jobs.metrics import perplexity, record_step
from fmtune.models.loading import for_inference, free_memory, load_pretrained
from fmtune.training.losses import causal_loss_sum, seq2seq_loss_sum
from fmtune.training.progress import Progress
from fmtune.training.stop import JobStopped, StopRequest

# Answers generated together. Each decoding step reads every weight once for the whole batch, so rows share that
# cost: the default 16 rows of SmolLM2 took 18-22 s in one batch and 32-34 s in two of 8 (2-core AMD EPYC, fp32,
# 128 new tokens). The KV cache grows with it: ~5 GB for 16 rows of 600 tokens of a 7B model without GQA in bf16.
EVAL_BATCH = 16
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
    judge: JudgeSettings | None = None  # an LLM that rates each answer (fmtune.evaluation.judge)
    harness: tuple[str, tuple[str, ...] | None] | None = None  # lm-eval's (task folder, tasks): evaluation.harness
    known: KnownLosses | None = None  # losses that training measured already


@dataclass(frozen=True)
class KnownLosses:
    """Validation losses that training already measured on `rows` ("base": the untrained model, "tuned": the kept
    epoch), in the precision the evaluation scores in. Reused only for exactly these rows."""

    rows: list[Encoded]
    losses: dict[str, float]

    def loss_of(self, which: str, examples: list[Encoded]) -> float | None:
        return self.losses.get(which) if examples == self.rows else None


@dataclass(frozen=True)
class Scored:
    """One model's results: kept in eval/scored/ as soon as they exist, so a stopped evaluation resumes after the
    models it has scored."""

    loss: float | None
    answers: list[Answer]
    verdicts: list[Verdict] | None = None
    harness: dict[str, dict[str, float]] | None = None


class Pace:
    """An evaluation's progress — a bar on a terminal, and for an evaluation job a steps.jsonl record per batch
    (what `fmtune jobs describe` and Studio read) — and its stop: checked after every batch."""

    def __init__(self, total: int, stop: StopRequest | None, steps: Path | None):
        self.done, self.total, self.stop, self.steps = 0, total, stop, steps
        self.bar = Progress(total, "evaluation")

    def advance(self) -> None:
        self.done += 1
        self.bar.step()
        if self.steps is not None:
            record_step(self.steps, {"step": self.done, "total_steps": self.total})
        if self.stop is not None and self.stop.requested:
            self.bar.close()
            raise JobStopped(self.stop, "evaluation stopped; `fmtune jobs resume` runs it again, after the models "
                                        "already scored")


def evaluate(plan: Evaluation, tokenizer: Any, records: Sequence[Any], out: JobLayout, log: Callable[[str], None],
             stop: StopRequest | None = None, steps: Path | None = None) -> dict[str, Any]:
    """Score the tuned model (and the base) on `records`, one model in memory at a time; write `out`'s eval/ and
    report; the scores. `steps`: where an evaluation job records its progress."""
    examples, _ = encode_split(records, plan.mode, tokenizer, plan.max_length, chat_template=plan.chat_template,
                               seq2seq=plan.seq2seq)
    prompts = eval_prompts(records[: plan.samples], tokenizer, plan.max_length, plan.chat_template)
    models = {"tuned": plan.tuned_dir, **({"base": plan.base_dir} if plan.base_dir is not None else {})}
    log(f"evaluation: {'the base and ' if plan.base_dir else ''}the {'tuned ' if plan.base_dir else ''}model: loss "
        f"over {len(examples)} held-out sequences, answers to {len(prompts)} rows (up to {plan.max_new_tokens} new "
        f"tokens each){'; an LLM judge rates them' if plan.judge and prompts else ''}")
    pace = Pace(batches(plan, examples, prompts) * len(models), stop, steps)
    results = {which: scored(folder, which, plan, tokenizer, examples, prompts, out, pace, log)
               for which, folder in models.items()}
    pace.bar.close()
    scores: dict[str, Any] = {which: model_scores(result, prompts, plan.metrics) for which, result in results.items()}
    scores |= {"samples": len(prompts), "max_new_tokens": plan.max_new_tokens}
    if plan.judge is not None and prompts:
        scores["judge_model"] = plan.judge.model
    if plan.harness is not None:
        scores["lm_eval"] = {which: result.harness for which, result in results.items()}
    out.evaluation.mkdir(parents=True, exist_ok=True)
    before = results.get("base")
    rows = [prediction_row(i, p, before, results["tuned"]) for i, p in enumerate(prompts)]
    write_file_atomically(out.evaluation / "predictions.jsonl",
                          "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode())
    write_file_atomically(out.evaluation / "metrics.json", (json.dumps(scores, indent=2) + "\n").encode())
    write_report(out)
    log(summary_line(scores))
    log(f"evaluation report: {out.report}")
    return scores


def scored(folder: Path, which: str, plan: Evaluation, tokenizer: Any, examples: list[Encoded],
           prompts: Sequence[EvalPrompt], out: JobLayout, pace: Pace, log: Callable[[str], None]) -> Scored:
    """One model's results: from eval/scored/ when this very evaluation scored it before it was stopped, else
    computed now (and kept there)."""
    kept = out.evaluation / "scored" / f"{which}.json"
    key = scoring_key(folder, plan, examples, prompts)
    if kept.exists():
        saved = json.loads(kept.read_text())
        if saved.get("key") == key:
            log(f"evaluation: the {which} model was scored before the stop; its results are reused")
            pace.done += batches(plan, examples, prompts)
            return Scored(saved["loss"], [Answer(**a) for a in saved["answers"]],
                          None if saved["verdicts"] is None else [Verdict(**v) for v in saved["verdicts"]],
                          saved["harness"])
    known = plan.known.loss_of(which, examples) if plan.known else None
    if known is not None:
        log(f"evaluation: the {which} model's validation loss is the one training measured on these rows")
    loss, answers = score_model(folder, plan, tokenizer, examples, prompts, pace, known)
    verdicts = None
    if plan.judge is not None and prompts:
        verdicts = judge(plan.judge, [(p.input, p.reference, a.text) for p, a in zip(prompts, answers, strict=True)])
        pace.advance()
    harness = None
    if plan.harness is not None:
        harness = run_harness(folder, *plan.harness, plan.device, plan.remote_code, EVAL_BATCH)
        log(f"lm-evaluation-harness, the {which} model: " + "; ".join(
            f"{task} " + ", ".join(f"{k} {v:.4f}" for k, v in values.items()) for task, values in harness.items()))
        pace.advance()
    result = Scored(loss, answers, verdicts, harness)
    kept.parent.mkdir(parents=True, exist_ok=True)
    write_file_atomically(kept, json.dumps({"key": key, **asdict(result)}).encode())
    return result


def batches(plan: Evaluation, examples: list[Encoded], prompts: Sequence[EvalPrompt]) -> int:
    """The steps of one model's scoring that progress counts: loss batches, answer batches, the judge."""
    return (-(-len(examples) // LOSS_BATCH) + -(-len(prompts) // EVAL_BATCH) + bool(plan.judge and prompts)
            + bool(plan.harness))


def scoring_key(folder: Path, plan: Evaluation, examples: list[Encoded], prompts: Sequence[EvalPrompt]) -> str:
    """Changes when the model's files, the rows or the settings change: kept results are reused only unchanged."""
    files = sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in folder.iterdir() if p.is_file())
    digest = hashlib.sha256(json.dumps([str(folder), files, plan.max_new_tokens, plan.max_length,
                                        plan.judge.model if plan.judge else None, plan.harness,
                                        [e.input_ids for e in examples], [p.ids for p in prompts]]).encode())
    return digest.hexdigest()


def score_model(folder: Path, plan: Evaluation, tokenizer: Any, examples: list[Encoded],
                prompts: Sequence[EvalPrompt], pace: Pace, known_loss: float | None = None
                ) -> tuple[float | None, list[Answer]]:
    """Load the model in `folder`; its mean validation loss (unless known) and its answers; free it before the next
    one loads."""
    if known_loss is not None:
        for _ in range(-(-len(examples) // LOSS_BATCH)):
            pace.advance()
        if not prompts:  # domain data has no answers to generate: nothing needs the model in memory
            return known_loss, []
    model = for_inference(load_pretrained(folder, plan.device, seq2seq=plan.seq2seq, **plan.remote_code))
    try:
        loss = mean_loss(model, examples, tokenizer.pad_token_id, plan.seq2seq, pace.advance) \
            if known_loss is None else known_loss
        answers = answer(model, tokenizer, prompts, max_new_tokens=plan.max_new_tokens, eos_ids=plan.eos_ids,
                         stop_strings=plan.stop_strings, batch_size=EVAL_BATCH, on_batch=pace.advance)
        return loss, answers
    finally:
        del model
        free_memory()


@torch.no_grad()
def mean_loss(model: Any, examples: list[Encoded], pad_id: int, seq2seq: bool,
              on_batch: Callable[[], None] = lambda: None) -> float | None:
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
        on_batch()
    return total / max(count, 1)


def model_scores(result: Scored, prompts: Sequence[EvalPrompt], metrics: tuple[str, ...] | None) -> dict[str, float]:
    scores = {} if result.loss is None else {"eval_loss": result.loss, "perplexity": perplexity(result.loss)}
    if prompts:
        answers = result.answers
        texts, references = [a.text for a in answers], [p.reference for p in prompts]
        generated = {**corpus_scores(texts, references), "stopped": sum(a.stopped for a in answers) / len(answers)}
        scores |= {k: v for k, v in generated.items() if metrics is None or k in metrics or k == "stopped"}
    if result.verdicts is not None:
        scores |= judge_scores(result.verdicts)
    return scores


def prediction_row(index: int, prompt: EvalPrompt, base: Scored | None, tuned: Scored) -> dict[str, Any]:
    row: dict[str, Any] = {"origin": prompt.origin, "input": prompt.input, "reference": prompt.reference}
    for which, result in (("base", base), ("tuned", tuned)):
        if result is None:
            continue
        said = result.answers[index]
        row |= {which: said.text, f"{which}_stopped": said.stopped,
                f"{which}_scores": sample_scores(said.text, prompt.reference)}
        if result.verdicts is not None:
            verdict = result.verdicts[index]
            row[f"{which}_scores"]["judge_score"] = verdict.score
            row[f"{which}_judge"] = verdict.explanation
    return row


def summary_line(scores: dict[str, Any]) -> str:
    """One line for the log: each headline metric (base → tuned)."""
    base, tuned = scores.get("base"), scores["tuned"]
    parts = [f"{label} " + (f"{fmt.format(base[key])} → " if base and key in base else "") + fmt.format(tuned[key])
             for key, label, fmt, _ in METRICS if key in HEADLINE and key in tuned]
    which = "base → tuned" if base else "tuned"
    return f"evaluation on {scores['samples']} held-out rows ({which}): " + ", ".join(parts)
