"""Memory preflight: estimate a run's peak memory before any weights load, and refuse runs that won't fit.

Estimate per device = weights / shards + trainable states + activations + runtime overhead:
- weights: parameters × bytes per parameter (4 fp32, 2 bf16, 1 int8, 0.5 nf4), split over FSDP shards; under
  8/4-bit quantization the embeddings stay unquantized (fp32 after k-bit preparation);
- trainable states: trainable parameters × 16 bytes (fp32 weight, gradient, two AdamW moments);
- activations kept for backward, per token: layers × 4 bytes × (22·hidden + 10·intermediate + heads·length)
  in fp32 (half in bf16; no heads·length term on CUDA, whose fused attention keeps no probabilities; eager
  attention on CPU keeps 6 bytes per probability in bf16: `eager_probability_bytes`); the
  loss runs the output layer over 256-token chunks (fmtune.training.losses), so logits cost a fixed
  3 × 256 × vocab × 4 bytes, not a per-token amount. With gradient checkpointing: 30% of that plus 0.5 GiB;
- runtime: PyTorch, the tokenizer and allocator slack (a fixed 0.5 GiB on CPU, 0.8 GiB CUDA context).
The constants were fitted to the measured peak RSS of LoRA runs on SmolLM2-135M (CPU, fp32, `python
bench/memory.py --only ...`): batch×length 4×256 and 8×256 → 4.68 and 8.26 GiB measured, 4.65 and 8.12
estimated; with gradient checkpointing 3.05 and 3.92 measured, 2.73 and 3.78 estimated.
tests/integration/test_memory.py keeps it within ±30%. GPU numbers use the same constants at 2 bytes and are
not yet calibrated on a GPU: treat them as rough.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fmtune.errors import UserError

GiB = 1024**3
BYTES_PER_PARAM = {"fp32": 4.0, "bf16": 2.0, "int8": 1.0, "nf4": 0.5}
RUNTIME_OVERHEAD = {"cpu": 0.5 * GiB, "cuda": 0.8 * GiB}
LOSS_CHUNK_TOKENS = 256  # fmtune.training.losses.CHUNK_TOKENS (not imported: this module must not need torch)
CHECKPOINTED_SHARE, CHECKPOINTING_FIXED = 0.3, 0.5 * GiB
# gradient_checkpointing=auto turns it on above this share of free memory: estimates err by up to ~20 %.
AUTO_CHECKPOINTING_SHARE = 0.8


@dataclass(frozen=True)
class Shape:
    """The numbers of an architecture that memory depends on (from config.json)."""

    parameters: int
    layers: int
    hidden: int
    intermediate: int
    vocab: int
    heads: int

    @classmethod
    def from_config(cls, config: Any) -> Shape:
        text = config.get_text_config() if hasattr(config, "get_text_config") else config
        hidden = _first(text, "hidden_size", "d_model", "n_embd")
        layers = _first(text, "num_hidden_layers", "n_layer", "num_layers")
        if getattr(text, "is_encoder_decoder", False):
            layers += _first(text, "num_decoder_layers", "num_layers")
        intermediate = _first(text, "intermediate_size", "ffn_hidden_size", "d_ff", "n_inner", default=4 * hidden)
        heads = _first(text, "num_attention_heads", "n_head", "num_heads")
        return cls(config_parameter_count(config), layers, hidden, intermediate or 4 * hidden, text.vocab_size, heads)


@dataclass(frozen=True)
class MemoryEstimate:
    weights: float
    trainable_states: float
    activations: float
    runtime: float
    devices: int

    @property
    def per_device(self) -> float:
        return self.weights + self.trainable_states + self.activations + self.runtime

    def describe(self) -> str:
        return (f"~{self.per_device / GiB:.2f} GiB per device (weights {self.weights / GiB:.2f}, trainable states "
                f"{self.trainable_states / GiB:.2f}, activations {self.activations / GiB:.2f}, runtime "
                f"{self.runtime / GiB:.2f}; {self.devices} device(s))")


def estimate(
    shape: Shape,
    *,
    trainable: int,
    batch_size: int,
    sequence_length: int,
    weight_format: str = "fp32",
    bf16_activations: bool = False,
    devices: int = 1,
    device_type: str = "cpu",
    gradient_checkpointing: bool = False,
    eager_attention: bool = False,
) -> MemoryEstimate:
    tokens = batch_size * sequence_length
    activation_bytes = 2 if bf16_activations else 4
    # CPU attention keeps the heads × length probabilities; CUDA's fused SDPA kernels do not.
    probabilities = shape.heads * sequence_length if device_type == "cpu" else 0
    probability_bytes = eager_probability_bytes(bf16_activations) if eager_attention else activation_bytes
    per_token = activation_bytes * (22 * shape.hidden + 10 * shape.intermediate) + probability_bytes * probabilities
    activations = tokens * shape.layers * per_token
    if gradient_checkpointing:
        activations = CHECKPOINTED_SHARE * activations + CHECKPOINTING_FIXED
    logits = 3 * LOSS_CHUNK_TOKENS * shape.vocab * 4
    embeddings = shape.vocab * shape.hidden if weight_format in ("int8", "nf4") else 0  # kept unquantized, fp32
    weights = (shape.parameters - embeddings) * BYTES_PER_PARAM[weight_format] + embeddings * 4
    return MemoryEstimate(
        weights=weights / devices,
        trainable_states=trainable * 16 / devices,
        activations=activations + logits,
        runtime=RUNTIME_OVERHEAD.get(device_type, RUNTIME_OVERHEAD["cpu"]),
        devices=devices,
    )


def eager_probability_bytes(bf16: bool) -> int:
    """Bytes eager attention (fmtune.models.attention) keeps per probability for the backward pass: softmax's
    fp32 output, plus its bf16 cast for the second matmul under autocast."""
    return 6 if bf16 else 4


def lora_parameter_count(config: Any, targets: list[str], rank: int) -> int:
    """Trainable LoRA parameters: rank × (in + out) for every targeted linear layer (counted on a meta model)."""
    import torch

    model = _meta_model(config)
    total = 0
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear) and name.rsplit(".", 1)[-1] in targets:
            total += rank * (module.in_features + module.out_features)
    return total


def config_parameter_count(config: Any) -> int:
    """All parameters of the model `config` describes (counted on a meta model: no memory, no weights)."""
    return sum(p.numel() for p in _meta_model(config).parameters())


MEMORY_CAP_ENV = "FMTUNE_MEMORY_GIB"  # plan for at most this much per device (a shared machine, a quota)


def available_memory(device_type: str) -> float:
    """Free memory on one device (MemAvailable for CPU, free CUDA memory of device 0 for GPUs), capped by
    $FMTUNE_MEMORY_GIB when it is set."""
    free = _free_cuda() if device_type == "cuda" else _free_ram()
    cap = os.environ.get(MEMORY_CAP_ENV, "").strip()
    if not cap:
        return free
    try:
        return min(free, float(cap) * GiB)
    except ValueError:
        raise UserError(f"{MEMORY_CAP_ENV}={cap!r}: must be a number of GiB, e.g. {MEMORY_CAP_ENV}=16.") from None


def _free_cuda() -> float:
    import torch

    return float(torch.cuda.mem_get_info(0)[0])


def _free_ram() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return float(line.split()[1]) * 1024
    except OSError:
        pass
    return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES"))


def wants_checkpointing(
    setting: str, without: MemoryEstimate, checkpointed: MemoryEstimate, available: float
) -> bool:
    """gradient_checkpointing: "True"/"False" as given; "auto": only when the run without it may not fit and
    checkpointing lowers the peak (for a small model its fixed cost can outweigh the activations it saves)."""
    if setting != "auto":
        return setting == "True"
    return without.per_device > AUTO_CHECKPOINTING_SHARE * available and checkpointed.per_device < without.per_device


@dataclass(frozen=True)
class MemoryPlan:
    """A run's memory decision: the estimate it will run with, whether it checkpoints, what is available."""

    estimate: MemoryEstimate
    without_checkpointing: MemoryEstimate
    checkpointing: bool
    available: float

    @property
    def fits(self) -> bool:
        return self.estimate.per_device <= self.available

    def has_room_for(self, extra: float) -> bool:
        """Whether `extra` bytes fit beside the run with the margin gradient_checkpointing=auto keeps."""
        return self.estimate.per_device + extra <= AUTO_CHECKPOINTING_SHARE * self.available

    def notes(self, setting: str) -> list[str]:
        """What the log says about the decision: the estimate, and why gradient_checkpointing=auto turned on."""
        found = [f"estimated peak {self.estimate.describe()}; {self.available / GiB:.1f} GiB available"]
        if self.checkpointing and setting == "auto":
            found.append(f"gradient checkpointing: on (gradient_checkpointing=auto: without it the estimated peak, "
                         f"{self.without_checkpointing.per_device / GiB:.2f} GiB, is too close to the memory "
                         "available)")
        return found


def plan_memory(setting: str, estimate_with: Callable[[bool], MemoryEstimate], device_type: str) -> MemoryPlan:
    """Estimate with and without gradient checkpointing and decide (`setting`: "auto", "True" or "False")."""
    available = available_memory(device_type)
    without, checkpointed = estimate_with(False), estimate_with(True)
    checkpointing = wants_checkpointing(setting, without, checkpointed, available)
    return MemoryPlan(checkpointed if checkpointing else without, without, checkpointing, available)


def advice(estimate: MemoryEstimate, available: float, weight_format: str, gradient_checkpointing: bool) -> str:
    tips = [] if gradient_checkpointing else ["set gradient_checkpointing=True (activations recomputed, not kept)"]
    tips += ["lower per_device_train_batch_size (and raise gradient_accumulation_steps to keep the batch)",
             "lower max_input_length"]
    if weight_format in ("fp32", "bf16"):
        tips.append("set int8_quantization=True (weights in 8 bits)")
    tips += ["enable_fsdp=True over several GPUs (--nproc N)", "or pick a smaller model (`fmtune models`)"]
    return (f"the estimated peak memory {estimate.describe()} exceeds the {available / GiB:.2f} GiB available. "
            "To fit: " + "; ".join(tips) + ".")


def _meta_model(config: Any) -> Any:
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM

    auto = AutoModelForSeq2SeqLM if getattr(config, "is_encoder_decoder", False) else AutoModelForCausalLM
    with torch.device("meta"):
        return auto.from_config(config)


def _first(config: Any, *names: str, default: int | None = None) -> int:
    for name in names:
        value = getattr(config, name, None)
        if isinstance(value, int):
            return value
    if default is None:
        raise ValueError(f"config has none of {names}")
    return default


def shape_for_card(card: Any) -> Shape | None:
    """The card's architecture numbers (its catalog architecture record), when the weights are not on disk yet."""
    real = card.architecture_spec.shape
    if real is None:
        return None
    return Shape(int(card.parameters_billion * 1e9), real.layers, real.hidden, real.intermediate, real.vocab,
                 real.heads)


def approximate_lora_parameters(shape: Shape, targets: int, rank: int) -> int:
    """rank × (in + out) per targeted projection, taking each as hidden × hidden (exact counts need config)."""
    return shape.layers * targets * rank * 2 * shape.hidden


def weight_format(quantization: str | None, bf16_weights: bool) -> str:
    return quantization or ("bf16" if bf16_weights else "fp32")


# Stable Diffusion (DreamBooth). Activations kept for backward, per image, in fp32 (half under bf16/fp16): for
# each UNet level, latent pixels × channels × (layers per block + 1) × bytes — DIFFUSION_RESNET_BYTES at levels of
# resnets only, DIFFUSION_TRANSFORMER_BYTES where transformer blocks (self/cross-attention, GEGLU) follow each
# resnet. Fitted to the autograd-saved bytes of tiny SD 2.x UNets with and without attention at 256 and 512 px,
# 1 and 2 layers per block (85-117 and 286-330 bytes seen); PyTorch's SDPA keeps no attention probabilities,
# so they add nothing. tests/unit/test_diffusion_memory.py keeps the estimate within ±35 % of the measured bytes.
# For the real 865M UNet this is an extrapolation (~2 GiB per 512 px image in fp32): treat it as rough.
DIFFUSION_RESNET_BYTES, DIFFUSION_TRANSFORMER_BYTES = 95, 300
VAE_DOWNSAMPLING = 8


@dataclass(frozen=True)
class UNetShape:
    """What a UNet's activation memory depends on (its config.json)."""

    channels: tuple[int, ...]  # block_out_channels, one per level
    layers_per_block: int
    attention: tuple[bool, ...]  # whether each level's blocks have transformer blocks

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> UNetShape:
        channels = tuple(config["block_out_channels"])
        kinds = config.get("down_block_types", ())
        layers = config.get("layers_per_block", 2)
        return cls(channels, layers if isinstance(layers, int) else max(layers),
                   tuple("CrossAttn" in kind for kind in kinds))

    def activation_bytes(self, resolution: int) -> float:
        """fp32 bytes kept for backward by one image at `resolution` (pixels of the image, not the latents)."""
        side = resolution // VAE_DOWNSAMPLING
        total = 0.0
        for level, channels in enumerate(self.channels):
            per_byte = DIFFUSION_TRANSFORMER_BYTES if level < len(self.attention) and self.attention[level] else (
                DIFFUSION_RESNET_BYTES)
            total += (side >> level) ** 2 * channels * (self.layers_per_block + 1) * per_byte
        return total


def estimate_diffusion(
    unet: UNetShape, *, frozen_parameters: int, trainable: int, images: int, resolution: int,
    half_precision: bool = False, device_type: str = "cpu", gradient_checkpointing: bool = False,
) -> MemoryEstimate:
    """Peak memory of a DreamBooth step: frozen weights in fp32, trained weights + gradient + AdamW moments
    (16 bytes each), the UNet's activations for `images` images (instance + class) at `resolution`."""
    activations = images * unet.activation_bytes(resolution) * (0.5 if half_precision else 1.0)
    if gradient_checkpointing:
        activations = CHECKPOINTED_SHARE * activations + CHECKPOINTING_FIXED
    return MemoryEstimate(weights=frozen_parameters * 4.0, trainable_states=trainable * 16.0,
                          activations=activations, runtime=RUNTIME_OVERHEAD.get(device_type, RUNTIME_OVERHEAD["cpu"]),
                          devices=1)


def card_memory_estimate(card: Any, hyperparameters: Mapping[str, str]) -> str:
    """Peak memory of a catalog model's LoRA run with these (JumpStart, string) hyperparameters, on one GPU (bf16)
    and on the CPU (fp32): what `fmtune models show` and Studio's form show before a job starts."""
    from fmtune.config.hyperparameters import parse_hyperparameters

    shape = shape_for_card(card)
    if shape is None:
        return (f"{card.parameters_billion:g}B parameters; {card.task} jobs check their memory when they start, "
                "before loading weights")
    hp = parse_hyperparameters(hyperparameters)
    length = min(1024 if hp.max_input_length == -1 else hp.max_input_length, card.context_length)
    trainable = approximate_lora_parameters(shape, len(card.lora_target_modules), hp.lora_r)
    lines = []
    for device, bf16 in (("cuda", True), ("cpu", False)):
        fmt = weight_format(hp.quantization, bf16)
        peak = estimate(shape, trainable=trainable, batch_size=hp.per_device_train_batch_size, sequence_length=length,
                        weight_format=fmt, bf16_activations=bf16, device_type=device,
                        gradient_checkpointing=hp.gradient_checkpointing == "True")
        lines.append(f"{device} ({fmt}, batch {hp.per_device_train_batch_size} x {length} tokens): {peak.describe()}")
    return f"{shape.parameters / 1e9:.2f}B parameters; " + " | ".join(lines)
