"""The end-of-job evaluation reuses the validation losses training measured, only for the very rows and weights
they were measured on."""

from __future__ import annotations

import json
from types import SimpleNamespace

import torch

from fmtune.config.hyperparameters import Hyperparameters
from fmtune.data.encode import Encoded
from fmtune.evaluation.run import KnownLosses
from fmtune.jobs.layout import JobLayout
from fmtune.recipes.export import training_losses
from fmtune.training.checkpoint import TrainState

ROWS = [Encoded([1, 2, 3], [-100, 2, 3]), Encoded([4, 5], [-100, 5])]


def test_known_losses_serve_only_the_rows_they_were_measured_on():
    known = KnownLosses(list(ROWS), {"base": 3.5, "tuned": 3.0})
    assert known.loss_of("tuned", list(ROWS)) == 3.0 and known.loss_of("base", list(ROWS)) == 3.5
    assert known.loss_of("tuned", ROWS[:1]) is None  # fewer rows (domain data capped by max_val_samples)
    assert known.loss_of("tuned", [Encoded([1, 2, 9], [-100, 2, 9]), ROWS[1]]) is None  # other tokens
    assert known.loss_of("other", list(ROWS)) is None


def _setup(device: str = "cpu", bf16: bool = False, **hp: str):
    return SimpleNamespace(hp=Hyperparameters.parse(hp), device=torch.device(device), bf16=bf16)


def test_training_losses_are_epoch_0_and_the_kept_epoch_and_none_where_the_evaluation_scores_otherwise(tmp_path):
    layout = JobLayout(tmp_path)
    records = [{"epoch": 1, "eval_loss": 3.1}, {"epoch": 2, "eval_loss": 3.0}, {"epoch": 0, "eval_loss": 3.5}]
    layout.metrics.write_text("".join(json.dumps(r) + "\n" for r in records))
    state = TrainState(best_loss=3.0, best_epoch=2)
    known = training_losses(state, layout, ROWS, _setup())
    assert known is not None and known.losses == {"tuned": 3.0, "base": 3.5} and known.rows == ROWS
    assert training_losses(state, layout, ROWS, _setup(int8_quantization="True")) is None  # scored in 8 bits
    assert training_losses(state, layout, ROWS, _setup("cuda", bf16=True)) is None  # validated in bf16
    assert training_losses(state, layout, ROWS, _setup(bf16=True)) is not None  # CPUs validate in fp32


def test_a_known_loss_with_no_answers_to_generate_loads_no_model(tmp_path):
    from fmtune.evaluation.run import Evaluation, Pace, score_model

    plan = Evaluation(tmp_path / "absent", None, "domain", 0, 8, 64, [0], [], torch.device("cpu"))
    pace = Pace(1, None, None)
    assert score_model(tmp_path / "absent", plan, None, list(ROWS), [], pace, known_loss=3.25) == (3.25, [])
    assert pace.done == 1  # its loss batch still counts as done
    pace.bar.close()
