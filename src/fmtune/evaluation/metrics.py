"""Scores of generated text against references, under the names the libraries give them, each per sample and
as the mean (or corpus score) over a set.

- ROUGE-1/2/L F-measure with the Porter stemmer (`rouge-score`, Google's re-implementation of ROUGE-1.5.5;
  FMEval's summarization accuracy uses it with the stemmer on): `rouge1`, `rouge2`, `rougeL`.
- BLEU and chrF (`sacrebleu`): `bleu` and `chrf` are corpus scores (0-100), as sacrebleu reports them; per
  sample, sentence BLEU with effective order (H2O LLM Studio's choice) and sentence chrF.
- FMEval's QA accuracy (shared/reference/evaluation.md §2): `exact_match` (FMEval: exact_match_score — equal after
  stripping), `quasi_exact_match` (quasi_exact_match_score — equal after SQuAD/QuAC normalisation), `f1`,
  `precision_over_words`, `recall_over_words` (over the sets of normalised words). A reference may hold several
  acceptable answers joined by "<OR>": each score is the best over them.
No model and no download is needed for any of them.
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")
QA_METRICS = ("exact_match", "quasi_exact_match", "f1", "precision_over_words", "recall_over_words")
ALL_METRICS = (*ROUGE_TYPES, "bleu", "chrf", *QA_METRICS)
TARGET_DELIMITER = "<OR>"
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = str.maketrans("", "", string.punctuation)


def normalize_answer(text: str) -> str:
    """The SQuAD/QuAC normalisation FMEval applies: lower case, no punctuation, no articles, single spaces."""
    return " ".join(_ARTICLES.sub(" ", text.lower().translate(_PUNCTUATION)).split())


def _word_scores(prediction: str, reference: str) -> tuple[float, float, float]:
    """(precision, recall, F1) over the sets of normalised words, as FMEval computes them (nltk's scores)."""
    predicted = set(normalize_answer(prediction.strip()).split())
    expected = set(normalize_answer(reference.strip()).split())
    common = len(predicted & expected)
    precision = common / len(predicted) if predicted else 0.0
    recall = common / len(expected) if expected else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def qa_scores(prediction: str, reference: str) -> dict[str, float]:
    """FMEval's QA accuracy scores of one answer, the best over the reference's "<OR>" alternatives."""
    best = dict.fromkeys(QA_METRICS, 0.0)
    for target in reference.split(TARGET_DELIMITER):
        precision, recall, f1 = _word_scores(prediction, target)
        found = {
            "exact_match": float(prediction.strip() == target.strip()),
            "quasi_exact_match": float(normalize_answer(prediction.strip()) == normalize_answer(target.strip())),
            "f1": f1, "precision_over_words": precision, "recall_over_words": recall,
        }
        best = {name: max(best[name], found[name]) for name in QA_METRICS}
    return best


@lru_cache(maxsize=1)
def _rouge_scorer() -> Any:
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=True)


def rouge_scores(prediction: str, reference: str) -> dict[str, float]:
    """ROUGE F-measures of one prediction, the best over the reference's "<OR>" alternatives."""
    best = dict.fromkeys(ROUGE_TYPES, 0.0)
    for target in reference.split(TARGET_DELIMITER):
        scores = _rouge_scorer().score(target, prediction)
        best = {name: max(best[name], scores[name].fmeasure) for name in ROUGE_TYPES}
    return best


def sentence_bleu_chrf(prediction: str, reference: str) -> dict[str, float]:
    import sacrebleu

    targets = reference.split(TARGET_DELIMITER)
    bleu = sacrebleu.sentence_bleu(prediction, targets, smooth_method="exp", use_effective_order=True).score
    # sacrebleu's float arithmetic can land a hair above 100 for identical texts
    return {"bleu": min(bleu, 100.0), "chrf": min(sacrebleu.sentence_chrf(prediction, targets).score, 100.0)}


def sample_scores(prediction: str, reference: str) -> dict[str, float]:
    """Every metric of one prediction (the per-sample columns of a report)."""
    return {**rouge_scores(prediction, reference), **sentence_bleu_chrf(prediction, reference),
            **qa_scores(prediction, reference)}


def corpus_scores(predictions: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """The set's scores: means of the per-sample ROUGE and QA scores; corpus BLEU and chrF (sacrebleu's, which
    pool n-gram counts over the set rather than average sentence scores), every "<OR>" alternative a reference
    (sacrebleu's reference streams, None where a line has fewer)."""
    import sacrebleu

    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions for {len(references)} references")
    if not predictions:
        raise ValueError("no predictions to score")
    per_sample = [{**rouge_scores(p, r), **qa_scores(p, r)} for p, r in zip(predictions, references, strict=True)]
    means = {name: sum(s[name] for s in per_sample) / len(per_sample) for name in (*ROUGE_TYPES, *QA_METRICS)}
    alternatives = [r.split(TARGET_DELIMITER) for r in references]
    streams = [[a[i] if i < len(a) else None for a in alternatives] for i in range(max(map(len, alternatives)))]
    return {"bleu": sacrebleu.corpus_bleu(list(predictions), streams).score,
            "chrf": sacrebleu.corpus_chrf(list(predictions), streams).score, **means}
