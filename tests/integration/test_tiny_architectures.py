"""`fmtune train MODEL_ID --tiny-random` end to end, once per distinct architecture of the catalog.

Each run goes through the CLI, the runner subprocess and the recipe: data → LoRA on the card's target
modules → eval → merge → save; then the test reloads model/, generates, and checks that LoRA learned
something (lora_B starts at zero). Chat cards train on chat data and must render their family format.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from fmtune.catalog import all_cards, get_card
from fmtune.cli.main import main

from ..conftest import SAMPLES

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("recipes_in_process")]

SMALL = ["-H", "epoch=1", "-H", "max_train_samples=8", "-H", "max_val_samples=4", "-H", "max_input_length=64",
         "-H", "per_device_train_batch_size=4", "-H", "learning_rate=0.001", "-H", "int8_quantization=False"]
# template.json with a short prompt, so that 64 tokens leave room for the response
INSTRUCTION = ["--training", str(SAMPLES / "instruction-template" / "train"),
               "--validation", str(SAMPLES / "instruction-template" / "validation"), "-H", "instruction_tuned=True",
               "-H", "chat_dataset=False"]
CHAT = ["--training", str(SAMPLES / "chat" / "train.jsonl"),
        "--validation", str(SAMPLES / "chat" / "validation.jsonl"), "-H", "chat_dataset=True"]
DOMAIN = ["--training", str(SAMPLES / "domain" / "train.csv"),
          "--validation", str(SAMPLES / "domain" / "validation.csv"),
          "-H", "instruction_tuned=False", "-H", "chat_dataset=False"]

# Architectures (and variants: Llama GQA, Falcon-40B's new decoder) that no chat card below trains (each of
# those trains its own architecture too), and the data each trains on; together they cover every model_type
# of the catalog (test_every_text_generation_architecture_is_trained).
ARCHITECTURES = {
    "llama-gqa": ("meta-textgeneration-llama-codellama-34b", DOMAIN),
    "mistral": ("huggingface-llm-mistral-7b", INSTRUCTION),
    "mixtral": ("huggingface-llm-mixtral-8x7b", INSTRUCTION),
    "falcon-40b": ("huggingface-llm-falcon-40b-bf16", DOMAIN),
    "gpt2": ("huggingface-textgeneration1-gpt-2-xl", DOMAIN),
    "gpt_neo": ("huggingface-textgeneration1-gpt-neo-125m", INSTRUCTION),
    "bloom": ("huggingface-textgeneration1-bloom-3b", INSTRUCTION),
}

# Chat cards: the start of the family's reply prompt, as the rendered training text must show it.
CHAT_CARDS = {
    "meta-textgeneration-llama-2-7b-f": ("<s>[INST] ", " [/INST]"),
    "huggingface-llm-mixtral-8x7b-instruct": ("<s> [INST] ", " [/INST]"),  # the Mixtral-Instruct card's spacing
    "huggingface-llm-gemma-2b-instruct": ("<bos><start_of_turn>user\n", "<start_of_turn>model\n"),
    "huggingface-llm-falcon-7b-instruct-bf16": ("\n\nUser: ", "\n\nAssistant:"),
    "huggingface-textgeneration1-redpajama-incite-chat-3B-v1-fp16": ("<human>: ", "\n<bot>:"),
    "huggingface-llm-calm2-7b-chat-bf16": ("USER: ", "\nASSISTANT:"),
    "huggingface-textgeneration1-lightgpt": ("Below is an instruction", "### Response:\n"),
}


def train_tiny(tmp_path: Path, model_id: str, data: list[str], capsys) -> Path:
    job_dir = tmp_path / "job"
    eula = ["--accept-eula"] if get_card(model_id).eula_required else []
    code = main(["train", model_id, "--tiny-random", *data, *SMALL, *eula, "--output-dir", str(job_dir)])
    logs = (job_dir / "logs.txt").read_text() if (job_dir / "logs.txt").exists() else "(no log)"
    assert code == 0, logs
    assert "weights are RANDOM" in capsys.readouterr().err
    assert "weights: RANDOM (tiny-random test model of" in logs
    assert "only a test of the pipeline" in logs
    return job_dir


def check_trained_and_reloadable(job_dir: Path, model_id: str) -> None:
    card = get_card(model_id)
    config = json.loads((job_dir / "config.json").read_text())
    assert config["tiny_random"] is True and config["model"] == model_id
    adapter_config = json.loads((job_dir / "adapter" / "adapter_config.json").read_text())
    assert set(adapter_config["target_modules"]) == set(card.lora_target_modules)
    adapter = load_file(job_dir / "adapter" / "adapter_model.safetensors")
    lora_b = {k: v for k, v in adapter.items() if "lora_B" in k}
    assert lora_b and all(v.abs().sum() > 0 for v in lora_b.values()), "LoRA B matrices did not change"
    merged = json.loads((job_dir / "model" / "config.json").read_text())
    assert merged["model_type"] == card.architecture
    assert merged.get("num_hidden_layers", merged.get("n_layer", merged.get("num_layers"))) == 2

    from fmtune.jobs.artifacts import load_for_generation
    from fmtune.models.generate import generate

    loaded = load_for_generation(str(job_dir))
    prompt = loaded.prompt_format.render(loaded.tokenizer, "What does `len` do?")
    inputs = loaded.tokenizer(prompt, return_tensors="pt", add_special_tokens=loaded.prompt_format.mode != "chat")
    with torch.no_grad():
        output = loaded.model.generate(**inputs, max_new_tokens=3, min_new_tokens=3, do_sample=False,
                                       pad_token_id=loaded.tokenizer.pad_token_id)
    assert output.shape[1] == inputs["input_ids"].shape[1] + 3
    assert isinstance(generate(loaded, "What does `len` do?", max_new_tokens=4), str)


def test_every_text_generation_architecture_is_trained():
    trained = {get_card(m).architecture for m in [*(m for m, _ in ARCHITECTURES.values()), *CHAT_CARDS]}
    catalog = {c.architecture for c in all_cards() if c.task == "text-generation"}
    assert catalog - trained == set()


@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_tiny_random_trains_each_architecture(arch, tmp_path, capsys):
    model_id, data = ARCHITECTURES[arch]
    job_dir = train_tiny(tmp_path, model_id, data, capsys)
    check_trained_and_reloadable(job_dir, model_id)
    if arch == "mixtral":
        merged = json.loads((job_dir / "model" / "config.json").read_text())
        assert merged["num_local_experts"] == 4 and merged["output_router_logits"] is True
    if data is INSTRUCTION:  # packing is on by default, and falls back where the model would mix examples
        expected = "packing: off" if arch == "bloom" else "packing: on"
        assert expected in (job_dir / "logs.txt").read_text()


@pytest.mark.parametrize("model_id", list(CHAT_CARDS))
def test_tiny_random_chat_card_trains_on_its_family_format(model_id, tmp_path, capsys):
    from fmtune.data.channels import Conversation
    from fmtune.data.encode import IGNORE_INDEX, encode_chat
    from fmtune.models.loading import load_tokenizer

    job_dir = train_tiny(tmp_path, model_id, CHAT, capsys)
    check_trained_and_reloadable(job_dir, model_id)
    opening, reply_prompt = CHAT_CARDS[model_id]
    prompt_format = json.loads((job_dir / "model" / "fmtune_format.json").read_text())
    assert prompt_format["mode"] == "chat"

    # The training text, rendered and labelled exactly as the recipe does it with the saved tokenizer.
    tokenizer = load_tokenizer(job_dir / "model")
    first = json.loads((SAMPLES / "chat" / "train.jsonl").read_text().splitlines()[1])["messages"]
    encoded, _ = encode_chat(tokenizer, [Conversation(first, "train.jsonl:2")], 512, None)
    text = tokenizer.decode(encoded[0].input_ids)
    assert text.startswith(opening) and reply_prompt in text, text
    trained = tokenizer.decode([t for t in encoded[0].labels if t != IGNORE_INDEX])
    assert first[1]["content"] in trained and first[0]["content"] not in trained

    # Generation ends where the family ends a turn: its end-of-turn token, or its stop strings.
    from fmtune.catalog.formats import PROMPT_FORMATS

    spec = PROMPT_FORMATS[get_card(model_id).prompt_format]
    end_ids = tokenizer(spec.end_of_turn, add_special_tokens=False)["input_ids"]
    eos = json.loads((job_dir / "model" / "generation_config.json").read_text())["eos_token_id"]
    eos = eos if isinstance(eos, list) else [eos]
    if len(end_ids) == 1:
        assert end_ids[0] in eos
    else:
        assert spec.end_of_turn in spec.stop_strings


def test_tiny_flan_t5_builds_and_trains_one_step():
    """The seq2seq recipe lives elsewhere; here: the tiny T5 builds, and a forward/backward pass with labels works."""
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    from fmtune.models.source import materialize, resolve_source

    model_dir = materialize(resolve_source("huggingface-text2text-flan-t5-base", tiny_random=True))
    assert json.loads((model_dir / "fmtune_source.json").read_text())["weights"] == "random"
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSeq2SeqLM.from_pretrained(model_dir)
    assert model.config.decoder_start_token_id == tokenizer.pad_token_id
    batch = tokenizer(["Translate to German: hello", "Summarize: a long text"], return_tensors="pt", padding=True)
    labels = tokenizer(["hallo", "short"], return_tensors="pt", padding=True)["input_ids"]
    assert (labels[:, -1] == tokenizer.eos_token_id).any()  # T5's tokenizer closes each text with </s>
    labels[labels == tokenizer.pad_token_id] = -100
    out = model(**batch, labels=labels)
    assert torch.isfinite(out.loss)
    out.loss.backward()
    assert model.shared.weight.grad is not None and model.shared.weight.grad.abs().sum() > 0
    generated = model.generate(**batch, max_new_tokens=3, min_new_tokens=3, do_sample=False)
    assert generated.shape == (2, 4)  # decoder start + 3 tokens
