"""gradient_checkpointing=True gives the same training for less memory; LoRA scores the untrained model last."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from safetensors.torch import load_file

from fmtune.cli.main import main
from fmtune.training import loop

from ..conftest import SAMPLES

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("recipes_in_process")]

RUN = ["meta-textgeneration-llama-2-7b", "--tiny-random", "--accept-eula",
       "--training", str(SAMPLES / "instruction-template" / "train"),
       "--validation", str(SAMPLES / "instruction-template" / "validation"), "-H", "instruction_tuned=True",
       "-H", "epoch=2", "-H", "max_train_samples=8", "-H", "max_val_samples=4", "-H", "max_input_length=64",
       "-H", "learning_rate=0.001", "-H", "lora_dropout=0", "-H", "int8_quantization=False"]


def _train(job_dir: Path, *extra: str) -> tuple[list[float], dict]:
    assert main(["train", *RUN, *extra, "--output-dir", str(job_dir)]) == 0, (job_dir / "logs.txt").read_text()
    losses = [json.loads(line)["eval_loss"] for line in (job_dir / "metrics.jsonl").read_text().splitlines()]
    return losses, load_file(job_dir / "adapter" / "adapter_model.safetensors")


def test_checkpointed_run_matches_the_plain_run(tmp_path):
    plain_losses, plain_adapter = _train(tmp_path / "plain")
    losses, adapter = _train(tmp_path / "checkpointed", "-H", "gradient_checkpointing=True")
    assert "gradient checkpointing" in (tmp_path / "checkpointed" / "logs.txt").read_text()
    assert "gradient checkpointing" not in (tmp_path / "plain" / "logs.txt").read_text()
    assert losses == pytest.approx(plain_losses, rel=1e-5)
    assert plain_losses[-1] < plain_losses[0]
    for name, tensor in plain_adapter.items():
        assert (adapter[name] - tensor).norm() <= 1e-4 * tensor.norm() + 1e-7, name


def test_lora_scores_the_untrained_model_after_training_with_the_same_numbers(tmp_path):
    """LoRA runs evaluate epoch 0 at the end with the adapter off; full fine-tuning evaluates it first. Both
    start from the same weights, so epoch 0 must agree."""
    lora_losses, _ = _train(tmp_path / "lora", "-H", "epoch=1")
    full = tmp_path / "full"
    assert main(["train", *RUN, "-H", "epoch=1", "-H", "peft_type=none", "--output-dir", str(full)]) == 0
    full_losses = [json.loads(line)["eval_loss"] for line in (full / "metrics.jsonl").read_text().splitlines()]
    assert lora_losses[0] == pytest.approx(full_losses[0], rel=1e-6)
    assert lora_losses[1] < lora_losses[0]
    log = (tmp_path / "lora" / "logs.txt").read_text()
    assert log.index("epoch=1") < log.index("epoch=0")  # scored last, recorded first (metrics are in epoch order)
    full_log = (full / "logs.txt").read_text()
    assert full_log.index("epoch=0") < full_log.index("epoch=1")


def test_the_best_epoch_not_the_last_is_what_gets_saved(tmp_path):
    """A learning rate high enough that the last epoch is worse: adapter/ must hold the best epoch's weights."""
    job = tmp_path / "bouncy"
    argv = ["train", "meta-textgeneration-llama-2-7b", "--tiny-random", "--accept-eula",
            "--training", str(SAMPLES / "instruction" / "train"), "--validation", str(SAMPLES / "instruction" /
            "validation"), "-H", "instruction_tuned=True", "-H", "epoch=4", "-H", "learning_rate=0.05",
            "-H", "max_train_samples=4", "-H", "max_val_samples=4", "-H", "max_input_length=96",
            "-H", "lora_dropout=0", "--output-dir", str(job)]
    assert main(argv) == 0, (job / "logs.txt").read_text()
    losses = [json.loads(line)["eval_loss"] for line in (job / "metrics.jsonl").read_text().splitlines()]
    best_epoch = min(range(1, 5), key=lambda epoch: losses[epoch])
    assert best_epoch < 4 and losses[4] > losses[best_epoch], f"the run did not get worse at the end: {losses}"
    assert f"best epoch: {best_epoch} " in (job / "logs.txt").read_text()

    last_checkpoint = sorted((job / "checkpoints").glob("step-*"))[-1]
    best = {k.replace(".default", ""): v for k, v in load_file(last_checkpoint / "best.safetensors").items()}
    last = {k.replace(".default", ""): v for k, v in load_file(last_checkpoint / "trainable.safetensors").items()}
    saved = load_file(job / "adapter" / "adapter_model.safetensors")
    assert saved.keys() == best.keys()
    assert all((saved[k] == best[k]).all() for k in saved)
    assert any((saved[k] != last[k]).any() for k in saved)


def test_bf16_trains_like_fp32_and_each_job_records_the_precision_it_ran_in(tmp_path):
    """bf16 autocast (what precision=auto picks where it is faster) must reach the same losses as fp32 to bf16's
    rounding; config.json says which precision ran and why (auto: the measurement)."""
    fp32_losses, _ = _train(tmp_path / "fp32", "-H", "precision=fp32")
    bf16_losses, _ = _train(tmp_path / "bf16", "-H", "precision=bf16")
    assert bf16_losses == pytest.approx(fp32_losses, rel=2e-2)
    assert bf16_losses[-1] < bf16_losses[0]
    copies = "weights: a bf16 copy of the frozen base for training"  # the fp32 weights are back for validation
    assert copies in (tmp_path / "bf16" / "logs.txt").read_text()
    assert copies not in (tmp_path / "fp32" / "logs.txt").read_text()
    auto_losses, _ = _train(tmp_path / "auto", "-H", "epoch=1")
    decided = {name: json.loads((tmp_path / name / "config.json").read_text())["decided"]
               for name in ("fp32", "bf16", "auto")}
    assert {k: decided["fp32"][k] for k in ("precision", "precision_reason")} == {
        "precision": "fp32", "precision_reason": "precision=fp32"}
    assert decided["bf16"]["precision"] == "bf16"
    auto = decided["auto"]
    assert auto["precision_reason"].startswith("auto: bf16 autocast ran a ") and float(auto["bf16_speedup"]) > 0
    assert auto["precision"] == ("bf16" if float(auto["bf16_speedup"]) >= 1.15 else "fp32")
    assert f"precision: {'bf16 autocast' if auto['precision'] == 'bf16' else 'fp32'} (auto:" in (
        tmp_path / "auto" / "logs.txt").read_text()
    reference = bf16_losses if auto["precision"] == "bf16" else fp32_losses
    assert auto_losses == pytest.approx(reference[:2], rel=1e-5)


def test_eager_attention_trains_like_sdpa_and_each_job_records_the_kernel_it_trained_with(tmp_path, monkeypatch):
    """attention=eager (what attention=auto picks where it is faster) must give SDPA's losses to float rounding,
    over packed rows too; training really runs with it and validation with the kernel the model loaded with;
    config.json says which and why."""
    kernels = []

    def spy(function, phase):
        def spied(run, *args):
            kernels.append((phase, run.model.config._attn_implementation))
            return function(run, *args)
        return spied

    monkeypatch.setattr(loop, "train_epoch", spy(loop.train_epoch, "train"))
    monkeypatch.setattr(loop, "evaluate", spy(loop.evaluate, "validate"))
    sdpa_losses, _ = _train(tmp_path / "sdpa", "-H", "attention=sdpa", "-H", "precision=fp32")
    assert set(kernels) == {("train", "sdpa"), ("validate", "sdpa")}
    kernels.clear()
    eager_losses, _ = _train(tmp_path / "eager", "-H", "attention=eager", "-H", "precision=fp32")
    assert set(kernels) == {("train", "eager"), ("validate", "sdpa")}
    assert eager_losses == pytest.approx(sdpa_losses, rel=1e-5)
    assert eager_losses[-1] < eager_losses[0]
    log = (tmp_path / "eager" / "logs.txt").read_text()
    assert "attention: attention=eager" in log and "packing: on" in log
    kernels.clear()
    _train(tmp_path / "auto", "-H", "epoch=1")
    decided = {name: json.loads((tmp_path / name / "config.json").read_text())["decided"]
               for name in ("sdpa", "eager", "auto")}
    assert (decided["sdpa"]["attention"], decided["eager"]["attention"]) == ("sdpa", "eager")
    auto = decided["auto"]
    assert auto["attention"] in ("eager", "default")
    assert auto["attention_reason"].startswith(f"{auto['attention']}: eager attention ran forward and backward")
    assert ("train", "eager" if auto["attention"] == "eager" else "sdpa") in kernels
