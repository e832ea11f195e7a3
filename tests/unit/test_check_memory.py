"""The recipe's memory preflight: gradient_checkpointing=auto switches on where the plain run would not fit."""

from __future__ import annotations

import json

import pytest
import torch

from fmtune.config.hyperparameters import parse_hyperparameters
from fmtune.errors import UserError
from fmtune.models import memory
from fmtune.recipes.common import Setup, check_memory
from fmtune.training.distributed import Dist

TINY_LLAMA = {"model_type": "llama", "hidden_size": 256, "intermediate_size": 688, "num_hidden_layers": 4,
              "num_attention_heads": 4, "num_key_value_heads": 4, "vocab_size": 32000}


def _check(tmp_path, monkeypatch, available_gib: float, **hyperparameters: str):
    (tmp_path / "config.json").write_text(json.dumps(TINY_LLAMA))
    monkeypatch.setattr(memory, "available_memory", lambda device_type: available_gib * memory.GiB)
    hp = parse_hyperparameters({"per_device_train_batch_size": "16", **hyperparameters})
    setup = Setup(hp=hp, card=None, device=torch.device("cpu"), bf16=False, model_dir=tmp_path, tokenizer=None,
                  max_length=1024, remote_code={}, dist=Dist())
    lines: list[str] = []
    return check_memory(setup, lines.append), "\n".join(lines)


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
