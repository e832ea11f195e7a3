"""Next-token cross-entropy without the full logits tensor.

The logits of a batch are tokens × vocab floats: 4 × 256 × 49k ≈ 200 MB in fp32 for SmolLM2, and a
plain `cross_entropy(logits[:, :-1].flatten(0, 1), ...)` keeps three more tensors of that size alive (the
shifted copy, the saved log-softmax and, in backward, the gradient). `head_loss_sum` instead asks the model's
decoder for its final hidden states only and runs the output layer + cross-entropy over chunks
of tokens. For a plain bias-free output layer (every catalog model) `LinearCrossEntropy` computes each
chunk's gradients during the forward pass itself (as Liger's fused linear cross-entropy does), so logits are
neither kept nor recomputed; other output layers get a checkpointed chunk (recomputed in backward). The loss
is the same sum to float rounding; `head_loss_matches` checks that on the model itself before a run relies
on it. `token_loss_sum` is the fallback over full logits (models whose logits are not a plain projection of
the last hidden state, FSDP-sharded models), still without the shifted copy.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from fmtune.data.encode import IGNORE_INDEX
from fmtune.data.packing import packed_model_inputs
from fmtune.models.weight_copies import compute_weight

CHUNK_TOKENS = 256  # 256 tokens × 49k vocab ≈ 50 MB of fp32 logits alive at a time


def shifted_targets(labels: torch.Tensor) -> torch.Tensor:
    """Position t is scored on token t + 1; the last position has no target."""
    return F.pad(labels[:, 1:], (0, 1), value=IGNORE_INDEX)


def token_loss_sum(logits: torch.Tensor, labels: torch.Tensor, chunk_tokens: int = CHUNK_TOKENS) -> torch.Tensor:
    """Sum of next-token cross-entropy over the target tokens of `labels` (batch × length; -100 = no target)."""
    return _chunked(_chunk_loss, logits, labels, chunk_tokens)


def head_loss_sum(
    model: Any, inputs: dict[str, Any], labels: torch.Tensor, chunk_tokens: int = CHUNK_TOKENS
) -> tuple[torch.Tensor, Any]:
    """The same sum as `token_loss_sum(model(**inputs).logits, labels)`, computed from the last hidden
    states chunk by chunk; also the model's output (for auxiliary losses)."""
    output, hidden = last_hidden_states(model, inputs)
    head = model.get_output_embeddings()
    if type(head) is torch.nn.Linear and head.bias is None:
        flat = hidden.reshape(-1, hidden.shape[-1])
        targets = shifted_targets(labels).reshape(-1)
        if not torch.is_grad_enabled():  # evaluation: the loss alone
            return linear_cross_entropy(flat, head.weight, targets, chunk_tokens)[0], output
        return LinearCrossEntropy.apply(flat, head.weight, targets, chunk_tokens), output
    return _chunked(partial(_head_chunk_loss, head), hidden, labels, chunk_tokens), output


def last_hidden_states(model: Any, inputs: dict[str, Any]) -> tuple[Any, torch.Tensor]:
    """The model's output and what its output layer reads, without running the output layer: the decoder
    body's own output. The wrapper would project the last token (`logits_to_keep=1`), and under autocast that
    one token costs a cast of the whole output layer (85 ms per micro-batch for SmolLM2's 49k x 576 on a
    2-core Xeon). Mixture-of-experts models go through the wrapper: it adds the router's balancing loss."""
    wrapper = model.get_base_model() if hasattr(model, "get_base_model") else model  # PEFT wraps the model
    body = wrapper.get_decoder() if hasattr(wrapper, "get_decoder") else wrapper
    if body is wrapper or getattr(model.config, "output_router_logits", False):
        output = model(**inputs, logits_to_keep=1, output_hidden_states=True)
        return output, output.hidden_states[-1]
    output = body(**inputs)
    return output, output.last_hidden_state


class LinearCrossEntropy(torch.autograd.Function):
    """sum over tokens of cross_entropy(hidden @ weight.T, targets), -100 = no target. The forward pass also
    computes the gradients (`linear_cross_entropy`) and keeps only those."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any, hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor, chunk_tokens: int
    ) -> torch.Tensor:
        total, grad_hidden, grad_weight = linear_cross_entropy(hidden, weight, targets, chunk_tokens,
                                                               *ctx.needs_input_grad[:2])
        ctx.save_for_backward(grad_hidden, grad_weight)
        ctx.weight_dtype = weight.dtype
        return total

    @staticmethod
    def backward(ctx: Any, grad_total: torch.Tensor) -> tuple[torch.Tensor | None, ...]:  # type: ignore[override]
        grad_hidden, grad_weight = ctx.saved_tensors
        return (
            None if grad_hidden is None else grad_hidden * grad_total.to(grad_hidden.dtype),
            None if grad_weight is None else (grad_weight * grad_total).to(ctx.weight_dtype),
            None,
            None,
        )


def linear_cross_entropy(
    hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor, chunk_tokens: int,
    grad_of_hidden: bool = False, grad_of_weight: bool = False,
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """The summed loss and, when asked, its gradients for `hidden` (tokens × hidden) and `weight` (vocab ×
    hidden, accumulated in fp32), chunk by chunk: d loss / d logits = softmax - one-hot.

    Only tokens with a target go through the output layer: in instruction data the prompt and the padding of
    packed rows are half of the tokens or more, and their logits would only be computed to be thrown away.
    The matmuls run in the autocast dtype when autocast is on (the weight cast once, not per chunk); the
    softmax and the loss in fp32, from one log-softmax per chunk."""
    device = hidden.device.type
    dtype = torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else weight.dtype
    w = compute_weight(weight, dtype)  # a frozen output layer's bf16 copy is kept (fmtune.models.weight_copies)
    scored = (targets != IGNORE_INDEX).nonzero().squeeze(1)
    scored_hidden, scored_targets = hidden.index_select(0, scored).to(dtype), targets[scored]
    grad_scored = torch.empty_like(scored_hidden) if grad_of_hidden else None
    grad_weight = torch.zeros_like(weight, dtype=torch.float32) if grad_of_weight else None
    total = hidden.new_zeros((), dtype=torch.float32)
    for start in range(0, scored.numel(), chunk_tokens):
        h, t = scored_hidden[start : start + chunk_tokens], scored_targets[start : start + chunk_tokens]
        log_probs = (h @ w.T).float().log_softmax(-1)
        rows = torch.arange(t.numel(), device=t.device)
        total -= log_probs[rows, t].sum()
        if grad_scored is None and grad_weight is None:
            continue
        grad_logits = log_probs.exp_()  # the softmax, in place
        grad_logits[rows, t] -= 1
        grad_logits = grad_logits.to(dtype)
        if grad_scored is not None:
            grad_scored[start : start + chunk_tokens] = grad_logits @ w
        if grad_weight is not None:
            grad_weight += (grad_logits.T @ h).float()
    grad_hidden = None
    if grad_scored is not None:  # tokens without a target get no gradient from the loss
        grad_hidden = torch.zeros_like(hidden).index_copy_(0, scored, grad_scored.to(hidden.dtype))
    return total, grad_hidden, grad_weight


@torch.no_grad()
def head_loss_matches(model: Any, device: torch.device) -> bool:
    """Whether `head_loss_sum` reproduces the loss over the model's own logits (it does not for models that
    scale, cap or bias logits after the output layer, or whose output layer is not `get_output_embeddings`)."""
    if model.get_output_embeddings() is None:
        return False
    vocab = model.get_input_embeddings().num_embeddings
    ids = torch.randint(vocab, (2, 9), generator=torch.Generator().manual_seed(0)).to(device)
    inputs = {"input_ids": ids, "use_cache": False}
    was_training = model.training
    model.eval()
    try:
        expected = token_loss_sum(model(**inputs).logits, ids)
        actual, _ = head_loss_sum(model, inputs, ids, chunk_tokens=5)
    except (TypeError, ValueError, AttributeError):  # a model without logits_to_keep or hidden states
        return False
    finally:
        model.train(was_training)
    return bool(torch.isclose(actual, expected, rtol=1e-3))


def _chunked(loss_of_chunk: Any, per_token: torch.Tensor, labels: torch.Tensor, chunk_tokens: int) -> torch.Tensor:
    flat = per_token.reshape(-1, per_token.shape[-1])
    targets = shifted_targets(labels).reshape(-1)
    total = flat.new_zeros((), dtype=torch.float32)
    for start in range(0, targets.numel(), chunk_tokens):
        chunk, chunk_targets = flat[start : start + chunk_tokens], targets[start : start + chunk_tokens]
        if torch.is_grad_enabled() and chunk.requires_grad:  # backward recomputes the chunk instead of keeping it
            total = total + checkpoint(loss_of_chunk, chunk, chunk_targets, use_reentrant=False)
        else:
            total = total + loss_of_chunk(chunk, chunk_targets)
    return total


def _chunk_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits.float(), targets, ignore_index=IGNORE_INDEX, reduction="sum")


def _head_chunk_loss(head: torch.nn.Module, hidden: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return _chunk_loss(head(hidden), targets)


def causal_loss_sum(model: Any, batch: dict[str, torch.Tensor], head_chunks: bool = False) -> tuple[torch.Tensor, int]:
    """Sum of next-token cross-entropy over target tokens, and their count.

    A packed batch (it has position_ids) is called without attention_mask and KV cache, so that the model
    builds block-diagonal masks from the positions (fmtune.data.packing). `head_chunks`: the loss is taken
    from the last hidden states chunk by chunk, never holding the full logits (fmtune.training.losses).
    Mixture-of-experts models (Mixtral) also return the router's load-balancing loss; it is added with the
    model's coefficient (per token, so it survives the division by the token count)."""
    if "position_ids" in batch:
        inputs = packed_model_inputs(batch)
    else:
        inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"], "use_cache": False}
    if head_chunks:
        loss, output = head_loss_sum(model, inputs, batch["labels"])
    else:
        output = model(**inputs)
        loss = token_loss_sum(output.logits, batch["labels"])
    n_tokens = int((batch["labels"][:, 1:] != IGNORE_INDEX).sum())
    aux_loss = getattr(output, "aux_loss", None)
    if aux_loss is not None and model.training:
        loss = loss + model.config.router_aux_loss_coef * aux_loss.float() * n_tokens
    return loss, n_tokens


def seq2seq_loss_sum(model: Any, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, int]:
    """Summed cross-entropy of the decoder's predictions over target tokens, and their count."""
    logits = model(**batch).logits
    labels = batch["labels"]
    loss = F.cross_entropy(logits.flatten(0, 1).float(), labels.flatten(), ignore_index=IGNORE_INDEX, reduction="sum")
    return loss, int((labels != IGNORE_INDEX).sum())
