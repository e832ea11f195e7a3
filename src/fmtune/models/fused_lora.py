"""A LoRA linear layer's training pass on CPU as one autograd function: fewer passes over memory than peft's.

peft's `lora.Linear` computes `base(x) + lora_B(lora_A(dropout(x))) * scaling` as separate operators. Under bf16
autocast on CPU each layer and step then casts its input to the LoRA weights' fp32 (where it arrives in bf16),
drops out over that fp32 copy, casts it back to bf16 for lora_A, and multiplies and adds over the whole
tokens x out_features output, and the backward pass goes over those tensors again. `FusedLoraLinear` computes
the same sum with one cast of the input, dropout in the compute precision, the tokens x r intermediate, and
lora_B's product accumulated into the base layer's output by the matmul itself (`addmm_`, alpha = scaling). Its
backward accumulates the LoRA part of the input gradient into the base's (`addmm`), applies the dropout to that
tokens x in_features gradient once, and skips the input gradient where the input needs none (the first layer).
The dropped elements are those `CheapDropout` drops, drawn the same way (`drop_positions`), so a checkpointed
layer's recomputation drops the same ones; LoRA gradients come out in the LoRA weights' dtype, as autocast's do.
Used where nothing else is asked of the layer: training mode, one plain LoRA adapter (no DoRA or other variant)
on a frozen `nn.Linear`, input on CPU; every other call goes to peft's forward.
"""

from __future__ import annotations

import types
from typing import Any

import torch
from torch.profiler import record_function

from fmtune.models.dropout import DROPOUT_RANGE, CheapDropout, drop_positions


class FusedLoraLinear(torch.autograd.Function):
    """y = x W^T (+ bias) + scaling * dropout(x) A^T B^T, computed in `dtype`."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, lora_a: torch.Tensor,
                lora_b: torch.Tensor, scaling: float, p: float, dtype: torch.dtype) -> torch.Tensor:
        with torch.autocast("cpu", enabled=False):  # every cast below is explicit
            rows = x.reshape(-1, x.shape[-1]).to(dtype)
            # detach: a weight already in `dtype` (WeightCopies' bf16 copy) would be saved as the parameter itself,
            # and the backward would read whatever its .data holds by then (the fp32 weight, outside in_training)
            w, a, b = weight.to(dtype).detach(), lora_a.to(dtype), lora_b.to(dtype)
            out = rows @ w.t() if bias is None else torch.addmm(bias.to(dtype), rows, w.t())
            positions, dropped = None, rows
            if p > 0:
                with record_function(DROPOUT_RANGE):
                    positions = drop_positions(rows.numel(), p, rows.device)
                    dropped = rows.reshape(-1).mul(1 / (1 - p)).index_fill_(0, positions, 0).view(rows.shape)
            middle = dropped @ a.t()
            out.addmm_(middle, b.t(), alpha=scaling)
        ctx.save_for_backward(dropped, middle, w, a, b, positions)
        ctx.scaling, ctx.p, ctx.x_dtype, ctx.x_shape, ctx.lora_dtype = scaling, p, x.dtype, x.shape, lora_a.dtype
        return out.view(*x.shape[:-1], out.shape[-1])

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        dropped, middle, w, a, b, positions = ctx.saved_tensors
        with torch.autocast("cpu", enabled=False):
            grad_rows = grad.reshape(-1, grad.shape[-1]).to(w.dtype)
            grad_middle = (grad_rows @ b).mul_(ctx.scaling)  # tokens x r
            grad_b = (grad_rows.t() @ middle).mul_(ctx.scaling).to(ctx.lora_dtype)
            grad_a = (grad_middle.t() @ dropped).to(ctx.lora_dtype)
            grad_x = None
            if ctx.needs_input_grad[0]:
                grad_dropped = grad_middle @ a
                if positions is not None:
                    with record_function(DROPOUT_RANGE):
                        grad_dropped = grad_dropped.view(-1).mul_(1 / (1 - ctx.p)).index_fill_(0, positions, 0).view(
                            grad_dropped.shape)
                grad_x = torch.addmm(grad_dropped, grad_rows, w).to(ctx.x_dtype).view(ctx.x_shape)
        return grad_x, None, None, grad_a, grad_b, None, None, None


def fused_forward(layer: Any, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
    """peft `lora.Linear.forward`, through `FusedLoraLinear` where the call allows it."""
    fusable = _fusable_adapter(layer, x, args, kwargs)
    if fusable is None:
        return type(layer).forward(layer, x, *args, **kwargs)
    dtype = torch.get_autocast_dtype("cpu") if torch.is_autocast_enabled("cpu") else x.dtype
    base, dropout = layer.base_layer, layer.lora_dropout[fusable]
    return FusedLoraLinear.apply(x, base.weight, base.bias, layer.lora_A[fusable].weight,
                                 layer.lora_B[fusable].weight, layer.scaling[fusable], getattr(dropout, "p", 0.0),
                                 dtype)


def _fusable_adapter(layer: Any, x: torch.Tensor, args: tuple, kwargs: dict) -> str | None:
    """The one active adapter `FusedLoraLinear` computes exactly as peft would, or None."""
    if args or kwargs or not layer.training or layer.disable_adapters or layer.merged or x.device.type != "cpu":
        return None
    if len(layer.active_adapters) != 1:
        return None
    name = layer.active_adapters[0]
    base = layer.base_layer
    if name not in layer.lora_A or name in getattr(layer, "lora_variant", {}) or type(base) is not torch.nn.Linear:
        return None
    if base.weight.requires_grad or (base.bias is not None and base.bias.requires_grad):
        return None
    if not isinstance(layer.lora_dropout[name], CheapDropout | torch.nn.Identity):
        return None
    lora_a, lora_b = layer.lora_A[name], layer.lora_B[name]
    if lora_a.bias is not None or lora_b.bias is not None:
        return None
    if not torch.is_autocast_enabled("cpu") and not (x.dtype == base.weight.dtype == lora_a.weight.dtype):
        return None
    return name


def use_fused_lora(model: Any) -> int:
    """Route every peft LoRA `Linear` of `model` through `fused_forward`; returns how many."""
    from peft.tuners.lora.layer import Linear

    layers = [module for module in model.modules() if type(module) is Linear]
    for layer in layers:
        layer.forward = types.MethodType(fused_forward, layer)
    return len(layers)
