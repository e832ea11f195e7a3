"""int8 and 4-bit (QLoRA) LoRA on the embedded model, and full fine-tuning (peft_type=none)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from fmtune.cli.main import main

from ..conftest import SAMPLES

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("recipes_in_process")]

DATA = ["--training", str(SAMPLES / "instruction" / "train"),
        "--validation", str(SAMPLES / "instruction" / "validation"), "-H", "instruction_tuned=True",
        "-H", "max_train_samples=24", "-H", "max_val_samples=8", "-H", "max_input_length=128",
        "-H", "per_device_eval_batch_size=8"]


def eval_losses(job: Path) -> list[float]:
    return [json.loads(line)["eval_loss"] for line in (job / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize(("flag", "label"), [("int8_quantization", "8-bit base"), ("int4_quantization", "4-bit NF4")])
def test_quantized_lora_trains_and_exports_a_dequantized_merged_model(tmp_path, capsys, embedded_model_dir, flag,
                                                                     label):
    job = tmp_path / flag
    code = main(["train", *DATA, "-H", f"{flag}=True", "-H", "epoch=1", "-H", "max_train_samples=8",
                 "-H", "learning_rate=0.001", "--output-dir", str(job)])
    assert code == 0, (job / "logs.txt").read_text()
    assert label in (job / "logs.txt").read_text()
    losses = eval_losses(job)
    assert min(losses[1:]) < losses[0], losses
    merged = load_file(job / "model" / "model.safetensors")
    base = load_file(embedded_model_dir / "model.safetensors")
    assert merged.keys() == base.keys()  # no quantization state (SCB, absmax, quant_map) leaked into the export
    assert all(t.dtype == torch.float32 for t in merged.values())
    changed = {k for k in base if not torch.equal(base[k], merged[k])}
    assert changed and all(".mlp." in k or ".self_attn." in k for k in changed)
    assert "quantization_config" not in json.loads((job / "model" / "config.json").read_text())
    capsys.readouterr()
    assert main(["generate", str(job), "What does `json.dumps` do?", "--max-new-tokens", "8"]) == 0
    assert capsys.readouterr().out.strip()


def test_full_fine_tuning_updates_every_weight_and_writes_no_adapter(tmp_path):
    job = tmp_path / "full"
    code = main(["train", "huggingface-llm-mistral-7b", "--tiny-random", *DATA, "-H", "peft_type=none",
                 "-H", "epoch=1", "-H", "learning_rate=0.001", "--output-dir", str(job)])
    assert code == 0, (job / "logs.txt").read_text()
    log = (job / "logs.txt").read_text()
    assert "full fine-tuning" in log and "(100.00%)" in log
    assert not (job / "adapter").exists()
    tuned = load_file(job / "model" / "model.safetensors")
    from fmtune.models.source import materialize, resolve_source

    base = load_file(materialize(resolve_source("huggingface-llm-mistral-7b", tiny_random=True)) / "model.safetensors")
    unchanged = [k for k in base if torch.equal(base[k], tuned[k])]
    assert not unchanged, unchanged
