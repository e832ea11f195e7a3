"""bf16 copies of a frozen base's weights, for bf16-autocast training on CPU.

Under autocast every linear layer casts its fp32 weight to bf16 on every call, and for a frozen LoRA base
that is the same cast at every step: SmolLM2-135M, 4 packed rows, on a 2-core Xeon with AMX, the casts
(the tied 49k-vocabulary output layer twice per micro-batch) took 0.29 s of a 1.21 s forward + backward,
more than a third of its matmul time. `WeightCopies` casts each frozen weight once; while training runs
(`in_training`) every frozen linear layer holds its bf16 copy, so autocast finds its operand already in
bf16, and outside it (validation, export, merge) the fp32 weights are back. Same rounding as autocast's
own cast, so the same numbers. Embeddings keep fp32: their lookups start the fp32 residual stream; the
output layer tied to them takes its copy from `compute_weight` (fmtune.training.losses).
Cost: 2 bytes per frozen weight for the job's duration (memory preflight: `bf16_weight_copies`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch

COPY = "_fmtune_compute_copy"  # the attribute of an fp32 parameter that holds its copy, while `WeightCopies` lives


def compute_weight(weight: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """`weight` in `dtype`: its kept copy when there is one, else a fresh cast."""
    copy = getattr(weight, COPY, None)
    return copy if copy is not None and copy.dtype == dtype else weight.to(dtype)


class WeightCopies:
    """bf16 copies of `model`'s frozen fp32 linear weights, the output layer included."""

    def __init__(self, model: Any, dtype: torch.dtype = torch.bfloat16):
        embeddings = {id(m.weight) for m in model.modules() if isinstance(m, torch.nn.Embedding)}
        self.swapped: list[tuple[torch.nn.Parameter, torch.Tensor, torch.Tensor]] = []  # (param, fp32, copy)
        self.kept: list[torch.Tensor] = []  # an output layer tied to the embeddings: copied, not swapped
        seen: set[int] = set()  # one copy per tensor, however many layers share it
        for module in model.modules():
            weight = getattr(module, "weight", None)
            if not (is_linear(module) and isinstance(weight, torch.nn.Parameter) and not weight.requires_grad
                    and weight.dtype == torch.float32 and id(weight) not in seen):
                continue
            seen.add(id(weight))
            copy = weight.detach().to(dtype)
            setattr(weight, COPY, copy)
            if id(weight) in embeddings:
                self.kept.append(weight)
            else:
                self.swapped.append((weight, weight.data, copy))

    @contextlib.contextmanager
    def in_training(self) -> Iterator[None]:
        for param, _, copy in self.swapped:
            param.data = copy
        try:
            yield
        finally:
            for param, fp32, _ in self.swapped:
                param.data = fp32

    def release(self) -> None:
        for param in [p for p, _, _ in self.swapped] + self.kept:
            delattr(param, COPY)
        self.swapped, self.kept = [], []


def is_linear(module: torch.nn.Module) -> bool:
    """A layer whose weight feeds one autocast matmul: nn.Linear, or GPT-2's transposed Conv1D."""
    return isinstance(module, torch.nn.Linear) or type(module).__name__ == "Conv1D"
