"""eval/report.html: one self-contained page (inline CSS, plots as embedded PNG made with matplotlib) from what the
job folder holds — steps.jsonl, metrics.jsonl, eval/metrics.json, eval/predictions.jsonl. Rendering imports
neither torch nor transformers: a report can be redrawn anywhere, any time (`fmtune report JOB`)."""

from __future__ import annotations

import base64
import html
import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fmtune.atomic import write_file_atomically
from fmtune.data.templates import DEMARCATION
from fmtune.jobs.layout import JobLayout, job_layout
from fmtune.jobs.metrics import read_metrics

# (key in metrics.json, label, format, higher is better)
METRICS = (
    ("eval_loss", "validation loss", "{:.4f}", False), ("perplexity", "perplexity", "{:.2f}", False),
    ("rouge1", "ROUGE-1", "{:.3f}", True), ("rouge2", "ROUGE-2", "{:.3f}", True), ("rougeL", "ROUGE-L", "{:.3f}", True),
    ("bleu", "BLEU", "{:.2f}", True), ("chrf", "chrF", "{:.2f}", True), ("exact_match", "exact match", "{:.3f}", True),
    ("quasi_exact_match", "quasi-exact match", "{:.3f}", True), ("f1", "F1 (words)", "{:.3f}", True),
    ("precision_over_words", "precision (words)", "{:.3f}", True),
    ("recall_over_words", "recall (words)", "{:.3f}", True),
    ("stopped", "stopped by itself", "{:.0%}", True),
    ("judge_score", "LLM judge (1-10)", "{:.2f}", True), ("judge_parsed", "answers the judge rated", "{:.0%}", True),
    ("clip_score", "CLIP score", "{:.2f}", True), ("fid_score", "FID vs instance images", "{:.2f}", False),
)
HEADLINE = ("eval_loss", "rougeL", "bleu", "chrf", "f1", "stopped", "judge_score", "clip_score", "fid_score")
SHOWN_ROWS = 8  # rows in the side-by-side table
EXTREMES = 3  # best and worst rows shown


def write_report(layout: JobLayout) -> Path:
    write_file_atomically(layout.report, render(layout).encode())
    return layout.report


def render(layout: JobLayout) -> str:
    scores = json.loads((layout.evaluation / "metrics.json").read_text())
    rows = read_metrics(layout.evaluation / "predictions.jsonl")
    config = _config(layout)
    question = "Did the fine-tune help?" if "base" in scores else "How does the model do?"
    judged = f" · judge: {_e(scores['judge_model'])}" if "judge_model" in scores else ""
    images = scores.get("kind") == "images"
    what = (f"{len(scores.get('prompts', []))} prompts · {scores['samples']} images per pipeline · fixed seeds"
            if images else f"{scores['samples']} held-out rows · up to {scores.get('max_new_tokens', '?')} new tokens "
                           f"per answer · greedy{judged}")
    parts = [
        f"<h1>{question} <span>{_e(config.get('job_name', layout.root.name))}</span></h1>",
        f"<p class='meta'>{_e(config.get('model', ''))} · {_e(config.get('task', ''))} · {what} · written "
        f"{datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}</p>",
        _headline(scores), "<h2>Training</h2>", _loss_plot(layout),
        f"<h2>Scores{': base and tuned' if 'base' in scores else ''}</h2>", _metric_table(scores), _score_plot(scores),
    ]
    if "lm_eval" in scores:
        parts += ["<h2>lm-evaluation-harness</h2>", _harness_table(scores["lm_eval"])]
    if images:
        parts += ["<h2>Side by side</h2>", "<p class='note'>Each prompt drawn by the base and the tuned pipeline with "
                  "the same seeds: the subject as trained, in settings its photos never showed, and its class.</p>",
                  _image_grid(layout, rows)]
    elif rows:
        parts += ["<h2>Side by side</h2>", "<p class='note'>The held-out rows, prompted exactly as in training "
                  "(JumpStart's notebook table).</p>", _side_by_side(rows[:SHOWN_ROWS])]
        ranked = sorted(rows, key=lambda r: r["tuned_scores"]["rougeL"])
        parts += [f"<h2>Best {min(EXTREMES, len(rows))} (tuned ROUGE-L)</h2>", _side_by_side(ranked[::-1][:EXTREMES]),
                  f"<h2>Worst {min(EXTREMES, len(rows))}</h2>", _side_by_side(ranked[:EXTREMES])]
    else:
        parts.append("<p class='note'>No generations: this job's data has no references (domain adaptation is "
                     "scored by its validation loss).</p>")
    parts.append(f"<footer>{_ABOUT}</footer>")
    return PAGE.format(title=_e(f"Evaluation · {config.get('job_name', layout.root.name)}"), body="\n".join(parts))


def summary(layout: JobLayout, rows: int = 3, width: int = 70) -> str:
    """The report's gist as plain text (what `make demo` prints): headline deltas, then a few rows side by side."""
    scores = json.loads((layout.evaluation / "metrics.json").read_text())
    base = scores.get("base", {})
    lines = [f"{'':<20}{'base':>10}{'tuned':>10}"]
    for key, label, fmt, _ in METRICS:
        if key in HEADLINE and key in scores["tuned"]:
            shown = fmt.format(base[key]) if key in base else "–"
            lines.append(f"{label:<20}{shown:>10}{fmt.format(scores['tuned'][key]):>10}")
    for row in read_metrics(layout.evaluation / "predictions.jsonl")[:rows]:
        question = row["input"].removesuffix(DEMARCATION)
        lines += ["", f"input:     {_clip(question, width, keep_end=True)}",
                  f"reference: {_clip(row['reference'], width)}", f"base:      {_clip(row.get('base', '–'), width)}",
                  f"tuned:     {_clip(row['tuned'], width)}"]
    return "\n".join(lines)


def _config(layout: JobLayout) -> dict[str, Any]:
    try:
        return json.loads(layout.config.read_text())
    except (OSError, ValueError):
        return {}


def _headline(scores: dict[str, Any]) -> str:
    cards = []
    base_scores = scores.get("base", {})
    for key, label, fmt, higher in METRICS:
        if key in HEADLINE and key in scores["tuned"]:
            base, tuned = base_scores.get(key), scores["tuned"][key]
            before = "" if base is None else f"{fmt.format(base)} → "
            cards.append(f"<div class='card {_verdict(base, tuned, higher)}'><div class='label'>{label}</div>"
                         f"<div class='value'>{before}<b>{fmt.format(tuned)}</b></div></div>")
    return f"<div class='cards'>{''.join(cards)}</div>"


def _metric_table(scores: dict[str, Any]) -> str:
    body = []
    base_scores = scores.get("base", {})
    for key, label, fmt, higher in METRICS:
        if key not in scores["tuned"]:
            continue
        base, tuned = base_scores.get(key), scores["tuned"][key]
        delta = None if base is None else tuned - base
        shown = "–" if delta is None else f"{delta:+.0%}" if key == "stopped" else (
            f"{delta:+.4f}" if abs(delta) < 1 else f"{delta:+.2f}")
        body.append(f"<tr><td>{label} <code>{key}</code></td><td>{'–' if base is None else fmt.format(base)}</td>"
                    f"<td>{fmt.format(tuned)}</td><td class='{_verdict(base, tuned, higher)}'>{shown}</td></tr>")
    return ("<table class='metrics'><thead><tr><th>metric</th><th>base</th><th>tuned</th><th>change</th></tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table>")


def _side_by_side(rows: list[dict[str, Any]]) -> str:
    body = "".join(
        f"<tr><td>{_e(r['input'])}<div class='origin'>{_e(r['origin'])}</div></td><td>{_e(r['reference'])}</td>"
        f"<td>{_e(r.get('base', '–'))}{_score(r, 'base')}</td><td>{_e(r['tuned'])}{_score(r, 'tuned')}</td></tr>"
        for r in rows)
    return ("<table class='side'><thead><tr><th>Inputs</th><th>Ground Truth</th><th>Response from non-finetuned model"
            f"</th><th>Response from fine-tuned model</th></tr></thead><tbody>{body}</tbody></table>")


def _harness_table(results: dict[str, dict[str, dict[str, float]]]) -> str:
    """Each task's scores under the harness's own names, base and tuned."""
    tuned, base = results.get("tuned") or {}, results.get("base") or {}
    body = "".join(
        f"<tr><td>{_e(task)}</td><td><code>{_e(metric)}</code></td>"
        f"<td>{'–' if metric not in base.get(task, {}) else f'{base[task][metric]:.4f}'}</td><td>{value:.4f}</td></tr>"
        for task, values in tuned.items() for metric, value in values.items())
    return ("<table class='metrics'><thead><tr><th>task</th><th>metric</th><th>base</th><th>tuned</th></tr></thead>"
            f"<tbody>{body}</tbody></table>")


def _image_grid(layout: JobLayout, rows: list[dict[str, Any]]) -> str:
    """One row per prompt: the base's images, then the tuned pipeline's (the files embedded: one file to share)."""
    by_prompt: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_prompt.setdefault(row["prompt"], []).append(row)
    body = []
    for prompt, drawn in by_prompt.items():
        cells = []
        for which in ("base", "tuned"):
            shown = "".join(_embedded(layout.evaluation / r[f"{which}_image"], f"{which}, seed {r['seed']}")
                            + _clip_caption(r, which) for r in drawn if f"{which}_image" in r)
            cells.append(f"<td class='grid'>{shown or '–'}</td>")
        body.append(f"<tr><td>{_e(prompt)}</td>{''.join(cells)}</tr>")
    return ("<table class='side'><thead><tr><th>Prompt</th><th>Base pipeline</th><th>Fine-tuned pipeline</th></tr>"
            f"</thead><tbody>{''.join(body)}</tbody></table>")


def _embedded(path: Path, alt: str) -> str:
    if not path.is_file():
        return f"<div class='origin'>{_e(path.name)} is missing</div>"
    return f"<img class='drawn' alt='{_e(alt)}' src='{_png_uri(path.read_bytes())}'>"


def _clip_caption(row: dict[str, Any], which: str) -> str:
    value = row.get(f"{which}_scores", {}).get("clip_score")
    return f"<div class='origin'>seed {row['seed']}{'' if value is None else f' · CLIP {value:.1f}'}</div>"


def _score(row: dict[str, Any], which: str) -> str:
    if f"{which}_scores" not in row:
        return ""
    capped = "" if row[f"{which}_stopped"] else " · hit the length cap"
    judged = ""
    if f"{which}_judge" in row:
        rating = row[f"{which}_scores"].get("judge_score")
        judged = f" · judge {'–' if rating is None else f'{rating:g}'}"
    return f"<div class='origin'>ROUGE-L {row[f'{which}_scores']['rougeL']:.3f}{judged}{capped}</div>"


def _loss_plot(layout: JobLayout) -> str:
    config = _config(layout)
    trained = job_layout(config["model"]) if config.get("task") == "evaluation" else None
    layout = trained or layout  # an evaluation job: the curve of the job it evaluated
    steps = [s for s in read_metrics(layout.steps) if "loss" in s]  # an evaluation job's records its progress
    epochs = [r for r in read_metrics(layout.metrics) if isinstance(r.get("eval_loss"), int | float)]
    if not steps and not epochs:
        return "<p class='note'>No training records in this job folder.</p>"
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(9, 3.4), dpi=110)
    if steps:
        axes.plot([s["step"] for s in steps], [s["loss"] for s in steps], color="#2f5bd3", lw=1.4,
                  label="training loss (per step)")
    last_step = {s["epoch"]: s["step"] for s in steps}
    if epochs:
        axes.plot([r.get("step", last_step.get(r["epoch"], 0)) for r in epochs], [r["eval_loss"] for r in epochs],
                  "o-", color="#d2691e", lw=1.2, label="validation loss (per epoch; step 0: the base)")
    axes.set_xlabel("optimizer step")
    axes.set_ylabel("loss")
    axes.grid(alpha=0.3)
    axes.legend(frameon=False)
    return _png(figure, "training and validation loss")


def _score_plot(scores: dict[str, Any]) -> str:
    keys = [k for k in ("rouge1", "rouge2", "rougeL", "f1", "quasi_exact_match") if k in scores["tuned"]]
    if not keys or "base" not in scores:
        return ""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(9, 2.8), dpi=110)
    x = range(len(keys))
    axes.bar([i - 0.2 for i in x], [scores["base"][k] for k in keys], 0.4, label="base", color="#9aa6bf")
    axes.bar([i + 0.2 for i in x], [scores["tuned"][k] for k in keys], 0.4, label="tuned", color="#2f5bd3")
    axes.set_xticks(list(x), keys)
    axes.set_ylim(0, 1)
    axes.grid(axis="y", alpha=0.3)
    axes.legend(frameon=False)
    return _png(figure, "scores of base and tuned")


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # no display: render to memory
    import matplotlib.pyplot as plt

    return plt


def _png(figure: Any, alt: str) -> str:
    data = io.BytesIO()
    figure.tight_layout()
    figure.savefig(data, format="png")
    _pyplot().close(figure)
    return f"<img alt='{alt}' src='{_png_uri(data.getvalue())}'>"


def _png_uri(png: bytes) -> str:
    return f"data:image/png;base64,{base64.b64encode(png).decode()}"


def _verdict(base: float | None, tuned: float, higher: bool) -> str:
    if base is None or tuned == base:
        return "same"
    return "better" if (tuned > base) == higher else "worse"


def _clip(text: str, width: int, keep_end: bool = False) -> str:
    """One line of at most `width` characters; a prompt keeps its end (the question, after any template text)."""
    flat = " ".join(text.split())
    if len(flat) <= width:
        return flat
    return "…" + flat[-(width - 1):] if keep_end else flat[: width - 1] + "…"


def _e(text: Any) -> str:
    return html.escape(str(text))


_ABOUT = ("How it is computed: the validation loss is the mean cross-entropy per target token over every held-out "
          "sequence, with the loss functions training uses; both models answer the first held-out rows greedily, "
          "prompted as in training; ROUGE-1/2/L are F-measures with the Porter stemmer (rouge-score); BLEU and chrF "
          "are sacrebleu's corpus scores (0-100); exact match, quasi-exact match and word F1 follow FMEval's QA "
          "accuracy; \"stopped by itself\" is the share of answers that ended before the length cap; the LLM judge, "
          "when asked, rates each answer 1-10 with the prompt in docs/evaluation-judge.md. Images: CLIP score = 100 · "
          "max(cos(image, prompt), 0) with the given CLIP model; FID of the instance prompt's images against the "
          "instance images (few images: it compares runs on the same data, not published FIDs).")

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: system-ui, "DejaVu Sans", sans-serif; color: #1d2330; background: #f6f7f9; margin: 0; }}
main {{ max-width: 1100px; margin: 24px auto; padding: 0 24px 40px; }}
h1 {{ font-size: 24px; margin-bottom: 4px; }} h1 span {{ color: #5b6475; font-weight: 500; font-size: 18px; }}
h2 {{ font-size: 18px; margin: 28px 0 10px; }} .meta, .note, footer {{ color: #5b6475; font-size: 13px; }}
.cards {{ display: flex; gap: 12px; flex-wrap: wrap; margin: 16px 0; }}
.card {{ background: #fff; border: 1px solid #dfe3ea; border-radius: 10px; padding: 10px 16px; min-width: 150px; }}
.card .label {{ font-size: 12px; color: #5b6475; text-transform: uppercase; letter-spacing: .4px; }}
.card .value {{ font-size: 18px; margin-top: 4px; }} .card.better {{ border-color: #1f8a4c; }}
.card.worse {{ border-color: #c0342b; }}
table {{ border-collapse: collapse; width: 100%; background: #fff; border: 1px solid #dfe3ea; }}
th, td {{ text-align: left; padding: 8px 10px; border-bottom: 1px solid #dfe3ea; vertical-align: top; }}
td {{ font-size: 13px; }}
th {{ background: #eef1f6; font-size: 12px; }} td.better {{ color: #1f8a4c; font-weight: 600; }}
td.worse {{ color: #c0342b; font-weight: 600; }} table.metrics {{ width: auto; min-width: 520px; }}
table.side td {{ white-space: pre-wrap; width: 25%; }} .origin {{ color: #8a93a5; font-size: 11px; margin-top: 4px; }}
img {{ max-width: 100%; background: #fff; border: 1px solid #dfe3ea; border-radius: 8px; margin-top: 8px; }}
footer {{ margin-top: 30px; }} td.grid {{ width: 40%; }}
img.drawn {{ width: 160px; height: auto; image-rendering: pixelated; margin: 2px; }}
</style></head>
<body><main>
{body}
</main></body></html>
"""
