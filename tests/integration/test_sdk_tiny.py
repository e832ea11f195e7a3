"""The SDK's tiny_random=True: the same pipeline as `fmtune train --tiny-random`, from Python."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fmtune.sdk import Estimator

from ..conftest import SAMPLES

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("recipes_in_process")]


def test_estimator_trains_a_tiny_random_model(tmp_path):
    estimator = Estimator(
        "huggingface-llm-mistral-7b", tiny_random=True, output_path=tmp_path,
        hyperparameters={"instruction_tuned": "True", "epoch": "1", "max_train_samples": "8",
                         "max_input_length": "128"},
    )
    estimator.fit({"training": str(SAMPLES / "instruction" / "train")}, logs=False)
    job_dir = Path(estimator.latest_training_job.describe()["output_dir"])
    config = json.loads((job_dir / "config.json").read_text())
    assert config["tiny_random"] is True
    assert "weights: RANDOM" in (job_dir / "logs.txt").read_text()
    assert json.loads((job_dir / "model" / "config.json").read_text())["model_type"] == "mistral"
