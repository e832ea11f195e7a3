"""Mixtral: the router's load-balancing loss stays on while tuning (and off in evaluation)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from fmtune.models.loading import load_pretrained
from fmtune.models.source import materialize, resolve_source
from fmtune.training.losses import causal_loss_sum


@pytest.mark.parametrize("head_chunks", [False, True])
def test_router_aux_loss_is_added_in_training_only(fmtune_home, head_chunks):
    model_dir = materialize(resolve_source("huggingface-llm-mixtral-8x7b", tiny_random=True))
    model = load_pretrained(model_dir, torch.device("cpu"))
    assert model.config.output_router_logits is True
    ids = torch.randint(0, 1000, (2, 16))
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": ids}
    plain = F.cross_entropy(model(input_ids=ids).logits[:, :-1].flatten(0, 1), ids[:, 1:].flatten(), reduction="sum")
    model.train()
    with_aux, n_tokens = causal_loss_sum(model, batch, head_chunks=head_chunks)
    aux = model(input_ids=ids).aux_loss
    assert n_tokens == 30
    assert torch.allclose(with_aux, plain + model.config.router_aux_loss_coef * aux * n_tokens, rtol=1e-4)
    model.eval()
    evaluation, _ = causal_loss_sum(model, batch, head_chunks=head_chunks)
    assert torch.allclose(evaluation, plain, rtol=1e-4)
