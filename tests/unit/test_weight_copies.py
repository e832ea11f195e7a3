"""bf16 copies of a frozen base for CPU bf16-autocast training: the same numbers, fp32 weights back outside."""

from __future__ import annotations

import torch

from fmtune.config.hyperparameters import parse_hyperparameters
from fmtune.models.loading import autocast, make_trainable
from fmtune.models.weight_copies import WeightCopies, compute_weight
from fmtune.training.losses import causal_loss_sum

CPU = torch.device("cpu")


def _lora_model(model_id: str):
    from fmtune.models.loading import load_pretrained
    from fmtune.models.source import materialize, resolve_source

    base = load_pretrained(materialize(resolve_source(model_id, tiny_random=True)), CPU)
    hp = parse_hyperparameters({"lora_dropout": "0"})
    return make_trainable(base, hp, ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])


def _loss_and_grads(model, copies: WeightCopies | None):
    ids = torch.randint(0, 1000, (2, 11), generator=torch.Generator().manual_seed(3))
    labels = ids.clone()
    labels[:, :4] = -100
    model.zero_grad(set_to_none=True)
    with copies.in_training() if copies else torch.enable_grad(), autocast(CPU, True):
        loss, _ = causal_loss_sum(model, {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": labels},
                                  head_chunks=True)
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def test_training_on_the_copies_gives_exactly_autocasts_numbers(fmtune_home):
    model = _lora_model("huggingface-llm-gemma-2b")  # tied output layer, as SmolLM2's
    for p in model.parameters():  # LoRA B starts at zero: give the adapter a gradient path through both factors
        if p.requires_grad:
            torch.nn.init.normal_(p, std=0.02)
    expected_loss, expected_grads = _loss_and_grads(model, None)
    copies = WeightCopies(model)
    loss, grads = _loss_and_grads(model, copies)
    assert torch.equal(loss, expected_loss)
    assert grads.keys() == expected_grads.keys() and len(grads) > 0
    for name, grad in grads.items():
        assert torch.equal(grad, expected_grads[name]), name


def test_frozen_linear_weights_are_bf16_only_while_training_and_the_tied_head_reads_its_copy(fmtune_home):
    model = _lora_model("huggingface-llm-gemma-2b")
    frozen = {n: p.data_ptr() for n, p in model.named_parameters() if not p.requires_grad}
    embedding = model.get_input_embeddings().weight
    assert model.get_output_embeddings().weight is embedding
    copies = WeightCopies(model)
    with copies.in_training():
        for name, p in model.named_parameters():
            linear = name.endswith("base_layer.weight") or name.endswith("proj.weight")
            expected = torch.bfloat16 if linear and not p.requires_grad else torch.float32
            assert p.dtype == expected, name
        assert embedding.dtype == torch.float32  # lookups feed the fp32 residual stream
        head = compute_weight(embedding, torch.bfloat16)
        assert head is compute_weight(embedding, torch.bfloat16) and torch.equal(head, embedding.to(torch.bfloat16))
    for name, p in model.named_parameters():
        if name in frozen:
            assert p.dtype == torch.float32 and p.data_ptr() == frozen[name], name  # the very fp32 tensors, for
            # validation, merge and export
    copies.release()
    assert compute_weight(embedding, torch.bfloat16) is not head  # no copy outlives the copies


def test_trainable_weights_and_an_untied_embedding_are_left_alone(fmtune_home):
    model = _lora_model("meta-textgeneration-llama-2-7b")
    copies = WeightCopies(model)
    trainable = [p for p in model.parameters() if p.requires_grad]
    embedding = model.get_input_embeddings().weight
    with copies.in_training():
        assert all(p.dtype == torch.float32 for p in trainable) and embedding.dtype == torch.float32
    assert compute_weight(embedding, torch.bfloat16) is not compute_weight(embedding, torch.bfloat16)  # no copy kept
    assert len(copies.swapped) == 7 * model.config.num_hidden_layers + 1 and copies.kept == []  # + untied head
