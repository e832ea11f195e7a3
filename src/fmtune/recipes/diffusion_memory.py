"""The memory preflight of a DreamBooth run, before any weights load: stop early if it cannot fit, and decide
gradient_checkpointing=auto (fmtune.models.memory.estimate_diffusion)."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from fmtune.config.dreambooth import DreamBoothHyperparameters
from fmtune.errors import UserError
from fmtune.models import memory
from fmtune.training.joblog import JobLog


def component_parameters(model_dir: Path) -> dict[str, int]:
    """Parameters of the UNet, VAE and text encoder, counted on meta-device models built from their configs."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    with torch.device("meta"):
        unet = UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(model_dir / "unet"))
        vae = AutoencoderKL.from_config(AutoencoderKL.load_config(model_dir / "vae"))
        text = CLIPTextModel(CLIPTextConfig.from_pretrained(model_dir / "text_encoder"))
    return {name: sum(p.numel() for p in module.parameters())
            for name, module in (("unet", unet), ("vae", vae), ("text_encoder", text))}


def lora_parameters(model_dir: Path, rank: int, targets: tuple[str, ...]) -> int:
    from diffusers import UNet2DConditionModel

    with torch.device("meta"):
        unet = UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(model_dir / "unet"))
    return sum(rank * (m.in_features + m.out_features) for name, m in unet.named_modules()
               if isinstance(m, torch.nn.Linear) and any(name.endswith(t) for t in targets))


def plan_diffusion_memory(model_dir: Path, hp: DreamBoothHyperparameters, device: torch.device,
                          targets: tuple[str, ...], half_precision: bool, log: JobLog) -> bool:
    """Whether to checkpoint the UNet's activations; a UserError when the run cannot fit either way."""
    counts = component_parameters(model_dir)
    unet = memory.UNetShape.from_config(json.loads((model_dir / "unet" / "config.json").read_text()))
    if hp.peft_type == "lora":
        trainable = lora_parameters(model_dir, hp.lora_r, targets)
        if hp.train_text_encoder:
            trainable += int(counts["text_encoder"] * 0.01)  # rank-r LoRA on its projections: about 1 %
        frozen = sum(counts.values())
    else:
        trainable = counts["unet"] + (counts["text_encoder"] if hp.train_text_encoder else 0)
        frozen = sum(counts.values()) - trainable
    images = hp.batch_size * (2 if hp.with_prior_preservation else 1)

    def estimate_with(checkpointing: bool) -> memory.MemoryEstimate:
        return memory.estimate_diffusion(unet, frozen_parameters=frozen, trainable=trainable, images=images,
                                         resolution=hp.resolution, half_precision=half_precision,
                                         device_type=device.type, gradient_checkpointing=checkpointing)

    plan = memory.plan_memory(hp.gradient_checkpointing, estimate_with, device.type)
    first, *rest = plan.notes(hp.gradient_checkpointing)
    log(f"memory: UNet {counts['unet'] / 1e6:.1f}M, VAE {counts['vae'] / 1e6:.1f}M, text encoder "
        f"{counts['text_encoder'] / 1e6:.1f}M parameters; {images} image(s) of {hp.resolution}px per micro-batch; "
        f"{first}")
    for note in rest:
        log(note)
    if not plan.fits:
        tips = [] if plan.checkpointing else ["gradient_checkpointing=True"]
        tips += ["peft_type=lora (LoRA instead of the whole UNet)" if hp.peft_type == "none" else None,
                 "a lower resolution", "batch_size=1 with gradient_accumulation_steps to keep the batch",
                 "train_text_encoder=False" if hp.train_text_encoder else None, "or a GPU"]
        raise UserError(f"Not enough memory: the estimated peak {plan.estimate.describe()} exceeds the "
                        f"{plan.available / memory.GiB:.2f} GiB available. To fit: "
                        + "; ".join(t for t in tips if t) + ".")
    return plan.checkpointing
