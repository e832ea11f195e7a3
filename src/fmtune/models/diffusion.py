"""A Stable Diffusion pipeline's parts as training and serving use them: loaded from a diffusers folder
(safetensors only), LoRA added to the UNet (and the text encoder), prompts encoded, images generated.

Only the main parts are loaded: the safety checker and feature extractor that some pipelines list are left
out (fmtune generates what the user asks for; the model card's license governs its use).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

LORA_FILE = "pytorch_lora_weights.safetensors"  # a LoRA in diffusers' format (what load_lora_weights reads)
MODEL_RECORD = "fmtune_model.json"  # beside a trained pipeline: task, base model, prompts, resolution
PREVIEW_STEPS = 25  # DPM-Solver++ steps of a preview or class image (diffusers' validation uses the same solver)
DEFAULT_STEPS = 50  # denoising steps of a requested image with the pipeline's own scheduler (JumpStart, diffusers)
GUIDANCE_SCALE = 7.5


@dataclass
class DiffusionParts:
    tokenizer: Any
    text_encoder: Any
    vae: Any
    unet: Any
    noise_scheduler: Any  # DDPM with the pipeline's scheduler config: noise for training
    scheduler_config: dict[str, Any]  # the pipeline's own scheduler (saved with the model)

    @property
    def prediction_type(self) -> str:
        return self.noise_scheduler.config.prediction_type

    def modules(self) -> torch.nn.ModuleDict:
        """The parts with weights, under the names the pipeline gives them (checkpoints key by these)."""
        return torch.nn.ModuleDict({"unet": self.unet, "text_encoder": self.text_encoder, "vae": self.vae})


def quiet_diffusers() -> None:
    """Job logs and endpoint logs without diffusers' per-component progress bars and LoRA-loading notes."""
    from diffusers.utils import logging as diffusers_logging

    diffusers_logging.set_verbosity_error()
    diffusers_logging.disable_progress_bar()


def load_parts(folder: Path, device: torch.device) -> DiffusionParts:
    """The pipeline's parts in fp32 on `device` (mixed precision is autocast's job), all frozen."""
    from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTokenizer

    def frozen(module: Any) -> Any:
        module.requires_grad_(False)
        return module.to(device)

    noise_scheduler = DDPMScheduler.from_pretrained(folder, subfolder="scheduler")
    return DiffusionParts(
        tokenizer=CLIPTokenizer.from_pretrained(folder, subfolder="tokenizer"),
        text_encoder=frozen(CLIPTextModel.from_pretrained(folder, subfolder="text_encoder", use_safetensors=True)),
        vae=frozen(AutoencoderKL.from_pretrained(folder, subfolder="vae", use_safetensors=True)),
        unet=frozen(UNet2DConditionModel.from_pretrained(folder, subfolder="unet", use_safetensors=True)),
        noise_scheduler=noise_scheduler,
        scheduler_config=dict(_scheduler_config(folder)),
    )


def load_pipeline(folder: Path, device: torch.device, dtype: torch.dtype = torch.float32) -> Any:
    """A whole pipeline for inference (safetensors only), without the safety checker some folders list."""
    from diffusers import StableDiffusionPipeline

    pipeline = StableDiffusionPipeline.from_pretrained(folder, safety_checker=None, feature_extractor=None,
                                                       requires_safety_checker=False, use_safetensors=True,
                                                       torch_dtype=dtype)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline.to(device)


def trained_size(folder: Path, pipeline: Any) -> int:
    """The side the model was trained at (fmtune's record), else the UNet's native one: images of another size
    may come out poor or black (JumpStart's notebook says so)."""
    import json

    try:
        return int(json.loads((folder / MODEL_RECORD).read_text())["resolution"])
    except (OSError, ValueError, KeyError, TypeError):
        return int(pipeline.unet.config.sample_size * pipeline.vae_scale_factor)


def _scheduler_config(folder: Path) -> dict[str, Any]:
    import json

    return json.loads((folder / "scheduler" / "scheduler_config.json").read_text())


def unet_lora_config(rank: int, targets: Sequence[str]) -> Any:
    """LoRA as diffusers' DreamBooth-LoRA makes it: alpha = rank (scale 1), gaussian init, no dropout."""
    from peft import LoraConfig

    return LoraConfig(r=rank, lora_alpha=rank, init_lora_weights="gaussian", target_modules=list(targets))


TEXT_ENCODER_TARGETS = ("q_proj", "k_proj", "v_proj", "out_proj")


def make_trainable(parts: DiffusionParts, peft_type: str, rank: int, unet_targets: Sequence[str],
                   train_text_encoder: bool) -> list[torch.nn.Parameter]:
    """LoRA on the UNet's attention (and the text encoder's), or the whole UNet (and text encoder) trained.
    The trained weights stay fp32 whatever the compute precision."""
    if peft_type == "lora":
        parts.unet.add_adapter(unet_lora_config(rank, unet_targets))
        if train_text_encoder:
            add_text_encoder_lora(parts.text_encoder, unet_lora_config(rank, TEXT_ENCODER_TARGETS))
    else:
        parts.unet.requires_grad_(True)
        if train_text_encoder:
            parts.text_encoder.requires_grad_(True)
    return [p for p in parts.modules().parameters() if p.requires_grad]


def add_text_encoder_lora(text_encoder: Any, config: Any) -> None:
    """LoRA layers injected into the CLIP text encoder in place (it stays a CLIPTextModel for the pipeline).
    transformers' own `add_adapter` would do the same but wants a newer peft than fmtune requires; the config is
    recorded where peft's state-dict helpers look for it."""
    from peft import inject_adapter_in_model

    inject_adapter_in_model(config, text_encoder, adapter_name="default")
    text_encoder.peft_config = {"default": config}


def encode_prompts(parts: DiffusionParts, prompts: Sequence[str], device: torch.device) -> torch.Tensor:
    """The text encoder's last hidden states of prompts padded to the tokenizer's 77 positions."""
    ids = parts.tokenizer(list(prompts), padding="max_length", truncation=True,
                          max_length=parts.tokenizer.model_max_length, return_tensors="pt").input_ids
    return parts.text_encoder(ids.to(device))[0]


def pipeline_of(parts: DiffusionParts, scheduler: str = "pipeline") -> Any:
    """A StableDiffusionPipeline over the parts as they are now (trained weights included, nothing copied).
    scheduler="preview": DPM-Solver++ (good images in few steps), else the pipeline's own scheduler."""
    import diffusers
    from diffusers import StableDiffusionPipeline

    config = dict(parts.scheduler_config)
    name = "DPMSolverMultistepScheduler" if scheduler == "preview" else config["_class_name"]
    sampler = getattr(diffusers, name).from_config(config)
    pipeline = StableDiffusionPipeline(vae=parts.vae, text_encoder=parts.text_encoder, tokenizer=parts.tokenizer,
                                       unet=parts.unet, scheduler=sampler, safety_checker=None,
                                       feature_extractor=None, requires_safety_checker=False)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


@torch.no_grad()
def generate(pipeline: Any, prompt: str, seeds: Sequence[int], size: int, *, steps: int = PREVIEW_STEPS,
             guidance_scale: float = GUIDANCE_SCALE, negative_prompt: str | None = None) -> list[Any]:
    """One image per seed (PIL), each from its own generator: the same seed gives the same image alone or
    in a batch."""
    generators = [torch.Generator(device="cpu").manual_seed(seed) for seed in seeds]
    result = pipeline([prompt] * len(seeds), height=size, width=size, num_inference_steps=steps,
                      guidance_scale=guidance_scale, generator=generators,
                      negative_prompt=[negative_prompt] * len(seeds) if negative_prompt else None)
    return list(result.images)


def png_bytes(image: Any) -> bytes:
    """A PIL image as PNG, for files written whole (fmtune.atomic.write_file_atomically)."""
    import io

    data = io.BytesIO()
    image.save(data, format="PNG")
    return data.getvalue()


def hash_seed(*parts: int) -> int:
    """A generator seed from several integers, without collisions between nearby (seed, step) pairs."""
    import hashlib

    digest = hashlib.sha256(",".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") % (2**63)
