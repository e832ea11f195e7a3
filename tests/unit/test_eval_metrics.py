"""The metrics against the libraries' own published examples: FMEval's QA-accuracy unit test records and their
expected scores, sacrebleu's README example, and ROUGE counted by hand on rouge-score's README example."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fmtune.evaluation.metrics import (
    ALL_METRICS,
    corpus_scores,
    normalize_answer,
    qa_scores,
    rouge_scores,
    sample_scores,
)

# aws/fmeval test/unit/eval_algorithms/test_qa_accuracy.py: QA_DATASET and its expected per-sample scores
FMEVAL_RECORDS = [  # (model_output, target_output, f1, exact, quasi-exact)
    ("London", "London", 1.0, 1.0, 1.0),
    ("tarantino!", "Quentin Tarantino", 2 / 3, 0.0, 0.0),
    ("London", "Paris", 0.0, 0.0, 0.0),
    ("rome!", "Rome", 1.0, 0.0, 1.0),
    ("2022", "1978<OR>1986<OR>2022", 1.0, 1.0, 1.0),
]


@pytest.mark.parametrize(("output", "target", "f1", "exact", "quasi"), FMEVAL_RECORDS)
def test_qa_scores_are_fmevals(output, target, f1, exact, quasi):
    scores = qa_scores(output, target)
    assert (scores["f1"], scores["exact_match"], scores["quasi_exact_match"]) == pytest.approx((f1, exact, quasi))


def test_the_set_means_are_fmevals_dataset_scores():
    outputs, targets = [r[0] for r in FMEVAL_RECORDS], [r[1] for r in FMEVAL_RECORDS]
    scores = corpus_scores(outputs, targets)
    # DATASET_SCORES there: F1 11/15, exact match 2/5, quasi-exact match 3/5
    assert (scores["f1"], scores["exact_match"], scores["quasi_exact_match"]) == pytest.approx((11 / 15, 2 / 5, 3 / 5))


def test_bleu_and_chrf_are_sacrebleus_readme_example():
    refs = [["The dog bit the man.", "It was not unexpected.", "The man bit him first."],
            ["The dog had bit the man.", "No one was surprised.", "The man had bitten the dog."]]
    hyps = ["The dog bit the man.", "It wasn't surprising.", "The man had just bitten him."]
    # sacrebleu's README prints BLEU = 48.53 82.4/50.0/45.5/37.5 ... and chrF2 = 59.73 for these two reference
    # streams; here each line's two references are its "<OR>" alternatives.
    ours = corpus_scores(hyps, [f"{a}<OR>{b}" for a, b in zip(*refs, strict=True)])
    assert (round(ours["bleu"], 2), round(ours["chrf"], 2)) == (48.53, 59.73)
    one = corpus_scores(hyps[:2], ["The dog bit the man.<OR>The dog had bit the man.", "It was not unexpected."])
    assert one["bleu"] > 0  # lines with fewer alternatives than others


def test_rouge_on_rouge_scores_readme_example_counted_by_hand():
    target, prediction = "The quick brown fox jumps over the lazy dog", "The quick brown dog jumps on the log."
    scores = rouge_scores(prediction, target)
    # unigrams in common: the x2, quick, brown, dog, jumps = 6 of 8 predicted, 6 of 9 in the target
    assert scores["rouge1"] == pytest.approx(2 * (6 / 8) * (6 / 9) / (6 / 8 + 6 / 9))
    # bigrams in common: "the quick", "quick brown" = 2 of 7 predicted, 2 of 8 in the target
    assert scores["rouge2"] == pytest.approx(2 * (2 / 7) * (2 / 8) / (2 / 7 + 2 / 8))
    # longest common subsequence: the quick brown jumps the = 5
    assert scores["rougeL"] == pytest.approx(2 * (5 / 8) * (5 / 9) / (5 / 8 + 5 / 9))
    assert rouge_scores("Jumping", "jumps")["rouge1"] == 1.0  # the Porter stemmer is on, as in FMEval


def test_normalisation_is_squads():
    assert normalize_answer("  The  Eiffel-Tower, in an  instant!") == "eiffeltower in instant"


@given(st.text(max_size=40), st.text(max_size=40))
def test_every_score_is_in_its_range_for_any_text(prediction, reference):
    scores = sample_scores(prediction, reference)
    assert set(scores) == set(ALL_METRICS)
    for name, value in scores.items():
        assert 0.0 <= value <= (100.0 if name in ("bleu", "chrf") else 1.0), (name, value)


def test_mismatched_or_empty_sets_are_refused():
    with pytest.raises(ValueError, match="2 predictions for 1 references"):
        corpus_scores(["a", "b"], ["a"])
    with pytest.raises(ValueError, match="no predictions"):
        corpus_scores([], [])
