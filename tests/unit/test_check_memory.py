"""The recipe's memory preflight: gradient_checkpointing=auto switches on where the plain run would not fit."""

from __future__ import annotations

import json

import pytest
import torch

from fmtune.config.hyperparameters import parse_hyperparameters
from fmtune.data.encode import Encoded
from fmtune.errors import UserError
from fmtune.models import memory
from fmtune.recipes.setup import Setup, plan_memory
from fmtune.training.distributed import Dist

TINY_LLAMA = {"model_type": "llama", "hidden_size": 256, "intermediate_size": 688, "num_hidden_layers": 4,
              "num_attention_heads": 4, "num_key_value_heads": 4, "vocab_size": 32000}


def _examples(*lengths: int) -> list[Encoded]:
    return [Encoded(list(range(n)), list(range(n))) for n in lengths]


def _planned(tmp_path, monkeypatch, available_gib: float, examples: list[Encoded] | None = None, bf16: bool = False,
             **hyperparameters: str) -> tuple[Setup, str]:
    (tmp_path / "config.json").write_text(json.dumps(TINY_LLAMA))
    monkeypatch.setattr(memory, "available_memory", lambda device_type: available_gib * memory.GiB)
    hp = parse_hyperparameters({"per_device_train_batch_size": "16", **hyperparameters})
    setup = Setup(hp=hp, card=None, device=torch.device("cpu"), bf16=bf16, model_dir=tmp_path, tokenizer=None,
                  max_length=1024, remote_code={}, dist=Dist())
    lines: list[str] = []
    plan_memory(setup, examples or _examples(1024, 300), lines.append)
    return setup, "\n".join(lines)


def _check(tmp_path, monkeypatch, available_gib: float, examples: list[Encoded] | None = None, **hyperparameters: str):
    setup, log = _planned(tmp_path, monkeypatch, available_gib, examples, **hyperparameters)
    return setup.gradient_checkpointing, log


def _plain_estimate_gib(tmp_path, monkeypatch) -> float:
    _, log = _check(tmp_path, monkeypatch, 1000, gradient_checkpointing="False")
    return float(log.split("estimated peak ~")[1].split(" GiB")[0])


def test_auto_keeps_full_speed_when_memory_is_plentiful(tmp_path, monkeypatch):
    checkpointing, log = _check(tmp_path, monkeypatch, 1000)
    assert checkpointing is False and "gradient checkpointing: on" not in log


def test_auto_checkpoints_a_run_that_only_fits_that_way(tmp_path, monkeypatch):
    plain = _plain_estimate_gib(tmp_path, monkeypatch)
    checkpointing, log = _check(tmp_path, monkeypatch, plain * 0.9)
    assert checkpointing is True
    assert "gradient checkpointing: on (gradient_checkpointing=auto" in log
    assert float(log.split("estimated peak ~")[1].split(" GiB")[0]) < plain


def test_false_is_obeyed_and_the_advice_names_checkpointing(tmp_path, monkeypatch):
    plain = _plain_estimate_gib(tmp_path, monkeypatch)
    with pytest.raises(UserError, match="set gradient_checkpointing=True"):
        _check(tmp_path, monkeypatch, plain * 0.9, gradient_checkpointing="False")


def test_the_estimate_is_sized_by_the_longest_sequence_not_max_input_length(tmp_path, monkeypatch):
    """24 rows of at most ~350 tokens with max_input_length=1024: the data, not the maximum, sizes the run."""
    plain_at_max = _plain_estimate_gib(tmp_path, monkeypatch)
    short = _examples(*([120] * 23 + [347]))
    checkpointing, log = _check(tmp_path, monkeypatch, plain_at_max * 0.9, examples=short)
    assert checkpointing is False, log
    assert "batch 16 x 352 tokens (the longest sequence)" in log
    assert float(log.split("estimated peak ~")[1].split(" GiB")[0]) < plain_at_max / 2


def test_cpu_bf16_lora_keeps_bf16_copies_of_the_frozen_weights_only_with_memory_to_spare(tmp_path, monkeypatch):
    setup, log = _planned(tmp_path, monkeypatch, 1000, bf16=True)
    assert setup.bf16_weight_copies and "weights: a bf16 copy of the frozen base for training (+" in log
    peak = float(log.split("estimated peak ~")[1].split(" GiB")[0])
    setup, log = _planned(tmp_path, monkeypatch, peak * 1.1, bf16=True)  # short: auto checkpoints, and no copies
    assert setup.gradient_checkpointing and not setup.bf16_weight_copies and "bf16 copy" not in log
    setup, log = _planned(tmp_path, monkeypatch, peak * 1.26, bf16=True, gradient_checkpointing="False")
    assert not setup.bf16_weight_copies, log  # fits, but not with the copies beside it
    for no_frozen_fp32_base in ({"bf16": False}, {"bf16": True, "int8_quantization": "True"},
                                {"bf16": True, "peft_type": "none"}):
        setup, _ = _planned(tmp_path, monkeypatch, 1000, **no_frozen_fp32_base)
        assert not setup.bf16_weight_copies, no_frozen_fp32_base


def test_max_input_length_above_the_model_limit_becomes_the_limit_and_the_log_says_so(fmtune_home, tmp_path):
    from fmtune.recipes.setup import set_up

    from ..conftest import SAMPLES
    from ..jobs_support import build_job

    job = build_job("huggingface-textgeneration1-gpt-2-xl", {"training": SAMPLES / "domain" / "train.csv"},
                    {"max_input_length": "4096"}, tiny_random=True, output_dir=tmp_path / "job")
    lines: list[str] = []
    setup = set_up(job, lines.append)
    assert setup.max_length == 1024  # GPT-2's n_positions
    assert "note: max_input_length=4096 is above this model's limit; using 1024 (JumpStart's rule: " \
           "min(max_input_length, model_max_length))." in lines
