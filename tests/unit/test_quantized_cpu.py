"""4-bit (QLoRA) on CPU: layers bitsandbytes cannot pack stay full precision, and an inference pass (fmtune's
packing and loss checks make one) never leaves the LoRA weights without gradients."""

from __future__ import annotations

import pytest
import torch

from fmtune.config.hyperparameters import parse_hyperparameters
from fmtune.models.loading import load_pretrained, make_trainable
from fmtune.models.source import materialize, resolve_source


@pytest.mark.parametrize("model_id", ["meta-textgeneration-llama-2-7b", "huggingface-llm-gemma-2b-instruct"])
def test_lora_on_a_4bit_base_gets_gradients_after_an_inference_pass(fmtune_home, model_id):
    """Gemma 2B's tiny K/V projections (16 outputs, MQA) cannot be packed in 4 bits on CPU: kept in fp32."""
    folder = materialize(resolve_source(model_id, tiny_random=True))
    hp = parse_hyperparameters({"int4_quantization": "True", "lora_dropout": "0"})
    model = make_trainable(load_pretrained(folder, torch.device("cpu"), quantization="nf4"), hp, ["q_proj", "v_proj"])
    ids = torch.randint(0, 1000, (2, 12), generator=torch.Generator().manual_seed(0))
    model.eval()
    with torch.no_grad():
        model(input_ids=ids, use_cache=False)  # what the packing check does before training
    model.train()
    model(input_ids=ids, labels=ids, use_cache=False).loss.backward()
    grads = [p.grad for n, p in model.named_parameters() if "lora_B" in n]
    assert grads and all(g is not None and g.abs().sum() > 0 for g in grads)
