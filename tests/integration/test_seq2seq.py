"""Flan-T5 (text2text): the seq2seq recipe on a tiny random T5 of Flan-T5's architecture."""

from __future__ import annotations

import json

import pytest

from fmtune.cli.main import main

from ..conftest import SAMPLES

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("recipes_in_process")]


def test_flan_t5_instruction_tuning_lowers_loss_and_generates(tmp_path, capsys):
    job = tmp_path / "flan"
    code = main([
        "train", "huggingface-text2text-flan-t5-small", "--tiny-random",
        "--training", str(SAMPLES / "instruction-template" / "train"),
        "--validation", str(SAMPLES / "instruction-template" / "validation"),
        "-H", "epoch=2", "-H", "learning_rate=0.003", "-H", "max_input_length=64", "-H", "max_train_samples=32",
        "--output-dir", str(job),
    ])
    assert code == 0, (job / "logs.txt").read_text()
    records = [json.loads(line) for line in (job / "metrics.jsonl").read_text().splitlines()]
    assert records[-1]["eval_loss"] < records[0]["eval_loss"] * 0.9, records
    config = json.loads((job / "model" / "config.json").read_text())
    assert config["model_type"] == "t5" and config["is_encoder_decoder"]
    prompt_format = json.loads((job / "model" / "fmtune_format.json").read_text())
    assert prompt_format["demarcation"] is False  # Flan-T5's JumpStart template has no "### Response:"
    capsys.readouterr()
    assert main(["generate", str(job), "What does `json.dumps` do?", "--max-new-tokens", "5"]) == 0
    assert capsys.readouterr().out.strip()


def test_domain_adaptation_on_flan_t5_is_refused_before_training(tmp_path, capsys):
    code = main([
        "train", "huggingface-text2text-flan-t5-small", "--tiny-random",
        "--training", str(SAMPLES / "domain" / "train.csv"), "-H", "instruction_tuned=False",
        "--output-dir", str(tmp_path / "x"),
    ])
    assert code == 2
    assert "encoder-decoder (text2text)" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
