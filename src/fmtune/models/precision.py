"""precision=auto: bf16 autocast where it is measured faster on this machine, else fp32.

CPU flags do not say it: an AMD EPYC with avx512_bf16 (no AMX) runs bf16 matmuls about 2x faster than fp32,
an Intel Xeon without avx512_bf16 emulates them slowly, and autocast's casts eat part of any gain. So on a
CPU, the first job on a machine times a LoRA MLP block of the model's own shapes (forward and backward, the
work a step repeats) in fp32 and under bf16 autocast, and picks bf16 when it is at least `MIN_SPEEDUP`
faster. The verdict is cached per (CPU model, torch version, threads, shapes) in FMTUNE_HOME/cache, so later
jobs decide in no time; every job logs it and records it in its config.json. GPUs: bf16 where supported.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import torch

from fmtune.models.cpu import cpu_model
from fmtune.models.verdicts import cached_verdict

MIN_SPEEDUP = 1.15  # the block's gain must survive what a whole step adds (norms, attention, loss in fp32)
TOKENS = 256  # rows of the timed block: one batch of a few short examples
REPEATS = 5  # best of, after one warm-up each


@dataclass(frozen=True)
class PrecisionChoice:
    bf16: bool
    reason: str  # what to log: why this precision
    speedup: float | None = None  # measured fp32 time / bf16 time, on CPU under auto

    @property
    def name(self) -> str:
        return "bf16" if self.bf16 else "fp32"

    def record(self) -> dict[str, str]:
        """What a job's config.json keeps of the decision."""
        measured = {} if self.speedup is None else {"bf16_speedup": f"{self.speedup:.2f}"}
        return {"precision": self.name, "precision_reason": self.reason, **measured}


def precision_for(setting: str, device: torch.device, shape: tuple[int, int]) -> PrecisionChoice:
    """`setting` is the precision hyperparameter (auto, bf16, fp32); `shape` = (hidden, intermediate) of the
    model's MLP, the shapes most of a step's matmuls have."""
    if setting != "auto":
        return PrecisionChoice(setting == "bf16", f"precision={setting}")
    if device.type == "cuda":
        supported = torch.cuda.is_bf16_supported()
        return PrecisionChoice(supported, "auto: this GPU " + ("supports bf16" if supported else "lacks bf16"))
    speedup, cached = bf16_speedup(shape)
    bf16 = speedup >= MIN_SPEEDUP
    how = "cached measurement" if cached else "measured now"
    return PrecisionChoice(bf16, f"auto: bf16 autocast ran a {shape[0]}x{shape[1]} LoRA block {speedup:.2f}x as "
                                 f"fast as fp32 on {cpu_model()} ({how}; bf16 from {MIN_SPEEDUP}x)", speedup)


def bf16_speedup(shape: tuple[int, int]) -> tuple[float, bool]:
    """fp32 time / bf16-autocast time of one LoRA MLP block step on this CPU; and whether it came from the cache."""
    key = f"{cpu_model()} | torch {torch.__version__} | {torch.get_num_threads()} threads | {shape[0]}x{shape[1]}"

    def measure() -> dict[str, float]:
        timings = time_block(*shape)
        return {"speedup": round(timings.fp32 / timings.bf16, 3), **asdict(timings)}

    verdict, cached = cached_verdict("precision.json", key, measure)
    return float(verdict["speedup"]), cached


@dataclass(frozen=True)
class BlockTimings:
    fp32: float  # seconds, best of REPEATS
    bf16: float


def time_block(hidden: int, intermediate: int, rank: int = 8) -> BlockTimings:
    """Best-of-REPEATS seconds of forward + backward through a frozen MLP block with LoRA on both layers
    (gradients for the input and the LoRA weights only), in fp32 and under bf16 autocast, interleaved."""
    generator = torch.Generator().manual_seed(0)

    def randn(*size: int, grad: bool = False) -> torch.Tensor:
        return (torch.randn(*size, generator=generator) * 0.02).requires_grad_(grad)

    x = randn(TOKENS, hidden, grad=True)
    up, down = randn(intermediate, hidden), randn(hidden, intermediate)
    lora = [randn(rank, hidden, grad=True), randn(intermediate, rank, grad=True),
            randn(rank, intermediate, grad=True), randn(hidden, rank, grad=True)]

    def step(bf16: bool) -> float:
        started = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            h = torch.nn.functional.linear(x, up) + x @ lora[0].T @ lora[1].T
            y = torch.nn.functional.linear(torch.nn.functional.silu(h), down) + h @ lora[2].T @ lora[3].T
        y.float().square().sum().backward()
        return time.perf_counter() - started

    best = {True: float("inf"), False: float("inf")}
    for bf16 in (False, True):
        step(bf16)  # warm-up: kernels chosen, memory allocated
    for _ in range(REPEATS):
        for bf16 in (False, True):
            best[bf16] = min(best[bf16], step(bf16))
    return BlockTimings(fp32=round(best[False], 6), bf16=round(best[True], 6))
