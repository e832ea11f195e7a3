"""The attention kernel a CPU job trains with, by measurement: PyTorch's SDPA or the eager matmul-softmax-matmul.

On CPU, SDPA runs a flash-attention kernel whose backward pass is slow over short rows: 2 packed rows of 224
tokens, 9 heads of 64 (SmolLM2-135M), bf16, a 2-core Xeon with AMX: 1.3 ms forward + 8.6 ms backward, against
1.7 + 3.1 ms for eager attention. Eager attention keeps the rows x heads x length x length probabilities for
the backward pass, which SDPA does not, so it can only pay over short rows, and its memory grows with the
square of the length. So the first job on a machine times both, forward and backward, on the job's own
attention shape (batch rows, the longest sequence, heads, key/value heads, head size) in the job's precision, and
trains with eager attention where it is at least `MIN_SPEEDUP` faster and its probabilities fit the memory plan
(fmtune.recipes.setup), else with transformers' default; validation keeps the kernel the model loaded with
(`training_kernel`). The verdict is cached per (CPU model, torch version, threads, precision, shape) in
FMTUNE_HOME/cache/attention.json; every job logs it and records it in its config.json. GPUs keep the default
(fused kernels that keep no probabilities), and so do jobs across processes (one kernel for all ranks,
unmeasured). The `attention` hyperparameter (sdpa, eager) overrides the choice.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

import torch

from fmtune.models.cpu import cpu_model
from fmtune.models.memory import eager_probability_bytes
from fmtune.models.verdicts import cached_verdict

MIN_SPEEDUP = 1.15  # attention is part of a step; a smaller gain is within a shared machine's drift
REPEATS = 5  # best of, after one warm-up each
# Above this many bytes of probabilities per layer eager attention is not considered (nor timed): it would
# take memory that batches need, and at such lengths it does not win.
MAX_EAGER_LAYER_BYTES = 256 * 2**20


@dataclass(frozen=True)
class AttentionShape:
    rows: int
    length: int
    heads: int
    kv_heads: int
    head_dim: int

    @classmethod
    def from_config(cls, config: Any, rows: int, length: int) -> AttentionShape | None:
        """None where the config does not name its heads as transformers' own architectures do."""
        text = config.get_text_config() if hasattr(config, "get_text_config") else config
        heads = getattr(text, "num_attention_heads", None)
        if not heads or not getattr(text, "hidden_size", None):
            return None
        kv_heads = getattr(text, "num_key_value_heads", None) or heads
        head_dim = getattr(text, "head_dim", None) or text.hidden_size // heads
        return cls(rows, length, heads, kv_heads, head_dim)

    def describe(self) -> str:
        return (f"{self.rows} rows x {self.length} tokens, {self.heads} heads"
                f"{f' ({self.kv_heads} key/value)' if self.kv_heads != self.heads else ''} of {self.head_dim}")


def eager_layer_bytes(shape: AttentionShape, bf16: bool) -> int:
    return shape.rows * shape.heads * shape.length * shape.length * eager_probability_bytes(bf16)


@dataclass(frozen=True)
class AttentionChoice:
    implementation: str  # "eager", "sdpa", or "default": what fmtune.models.loading picks (SDPA, or FA2 on GPUs)
    reason: str
    speedup: float | None = None  # measured SDPA time / eager time

    @property
    def eager(self) -> bool:
        return self.implementation == "eager"

    def record(self) -> dict[str, str]:
        """What a job's config.json keeps of the decision."""
        measured = {} if self.speedup is None else {"eager_attention_speedup": f"{self.speedup:.2f}"}
        return {"attention": self.implementation, "attention_reason": self.reason, **measured}


def attention_for(setting: str, device: torch.device, shape: AttentionShape | None, bf16: bool,
                  distributed: bool) -> AttentionChoice:
    """`setting` is the attention hyperparameter (auto, sdpa, eager); under auto, the kernel that trains fastest
    on this machine (the memory plan may still veto eager); `shape` None: the config does not say it."""
    if setting != "auto":
        return AttentionChoice(setting, f"attention={setting}")
    if device.type != "cpu":
        return AttentionChoice("default", "default: fused kernels on GPUs keep no probabilities")
    if distributed:
        return AttentionChoice("default", "default: a job across processes keeps transformers' kernel")
    if shape is None:
        return AttentionChoice("default", "default: this model's config does not say its attention heads")
    layer_bytes = eager_layer_bytes(shape, bf16)
    if layer_bytes > MAX_EAGER_LAYER_BYTES:
        return AttentionChoice("default", f"default: eager attention would keep {layer_bytes / 2**20:.0f} MiB of "
                                          f"probabilities per layer ({shape.describe()})")
    speedup, cached = eager_speedup(shape, bf16)
    implementation = "eager" if speedup >= MIN_SPEEDUP else "default"
    how = "cached measurement" if cached else "measured now"
    return AttentionChoice(implementation, f"{implementation}: eager attention ran forward and backward "
                                           f"{speedup:.2f}x as fast as SDPA over {shape.describe()} in "
                                           f"{'bf16' if bf16 else 'fp32'} on {cpu_model()} ({how}; eager from "
                                           f"{MIN_SPEEDUP}x)", speedup)


@contextlib.contextmanager
def training_kernel(model: Any, implementation: str) -> Iterator[None]:
    """`model` attends with `implementation` inside (the training passes), and with the kernel it was loaded with
    again after it: validation's forward-only passes, which SDPA runs faster (1.3 vs 1.7 ms in the example above)."""
    if implementation == "default":
        yield
        return
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    loaded = base.config._attn_implementation
    base.set_attn_implementation(implementation)
    try:
        yield
    finally:
        base.set_attn_implementation(loaded)


def eager_speedup(shape: AttentionShape, bf16: bool) -> tuple[float, bool]:
    """SDPA time / eager time of attention's forward and backward on this CPU; and whether it came from the cache."""
    key = (f"{cpu_model()} | torch {torch.__version__} | {torch.get_num_threads()} threads | "
           f"{'bf16' if bf16 else 'fp32'} | {shape.rows}x{shape.length} | "
           f"{shape.heads}/{shape.kv_heads} heads x {shape.head_dim}")

    def measure() -> dict[str, float]:
        timings = time_attention(shape, bf16)
        return {"speedup": round(timings.sdpa / timings.eager, 3), **asdict(timings)}

    verdict, cached = cached_verdict("attention.json", key, measure)
    return float(verdict["speedup"]), cached


def repeat_kv(x: torch.Tensor, groups: int) -> torch.Tensor:
    """Key/value heads repeated for each query head that shares them, as transformers does before attention."""
    rows, kv_heads, length, dim = x.shape
    return x if groups == 1 else x[:, :, None].expand(rows, kv_heads, groups, length, dim).reshape(
        rows, kv_heads * groups, length, dim)


def sdpa_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
    """transformers' sdpa path over a mask (as for packed rows): key/value heads repeated, a boolean mask."""
    groups = q.shape[1] // k.shape[1]
    return torch.nn.functional.scaled_dot_product_attention(q, repeat_kv(k, groups), repeat_kv(v, groups),
                                                            attn_mask=allowed)


def eager_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, additive: torch.Tensor) -> torch.Tensor:
    """transformers' eager path: scores + the additive mask (fp32), softmax in fp32, cast back, times values."""
    groups = q.shape[1] // k.shape[1]
    scores = torch.matmul(q, repeat_kv(k, groups).transpose(2, 3)) * q.shape[-1] ** -0.5 + additive
    probabilities = torch.softmax(scores, dim=-1, dtype=torch.float32).to(q.dtype)
    return torch.matmul(probabilities, repeat_kv(v, groups))


def packed_masks(rows: int, length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The masks of rows packed with three examples each (block-diagonal causal), boolean and additive."""
    example = torch.arange(length) * 3 // length
    allowed = (example[:, None] == example[None, :]) & torch.ones(length, length, dtype=torch.bool).tril()
    allowed = allowed.expand(rows, 1, length, length)
    additive = torch.zeros(allowed.shape).masked_fill_(~allowed, torch.finfo(torch.float32).min)
    return allowed, additive


@dataclass(frozen=True)
class AttentionTimings:
    sdpa: float  # seconds, best of REPEATS
    eager: float


def time_attention(shape: AttentionShape, bf16: bool) -> AttentionTimings:
    """Best-of-REPEATS seconds of forward + backward (gradients for queries, keys and values) of each kernel,
    interleaved, under the job's precision."""
    generator = torch.Generator().manual_seed(0)
    dtype = torch.bfloat16 if bf16 else torch.float32

    def randn(heads: int) -> torch.Tensor:
        size = (shape.rows, heads, shape.length, shape.head_dim)
        return torch.randn(*size, generator=generator).to(dtype).requires_grad_()

    q, k, v = randn(shape.heads), randn(shape.kv_heads), randn(shape.kv_heads)
    grad = torch.randn(q.shape, generator=generator).to(dtype)
    allowed, additive = packed_masks(shape.rows, shape.length)
    kernels = {"sdpa": lambda: sdpa_attention(q, k, v, allowed), "eager": lambda: eager_attention(q, k, v, additive)}

    def step(name: str) -> float:
        started = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = kernels[name]()
        out.backward(grad)
        return time.perf_counter() - started

    best = dict.fromkeys(kernels, float("inf"))
    for name in kernels:
        step(name)  # warm-up: kernels chosen, memory allocated
    for _ in range(REPEATS):
        for name in kernels:
            best[name] = min(best[name], step(name))
    return AttentionTimings(sdpa=round(best["sdpa"], 6), eager=round(best["eager"], 6))
