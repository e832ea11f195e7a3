"""A DreamBooth job's outputs, each written whole or not at all:

- adapter/pytorch_lora_weights.safetensors: the LoRA in diffusers' format (`pipeline.load_lora_weights`);
- adapter/<job>.kohya.safetensors: the same LoRA with kohya's keys (lora_unet_…, lora_te1_…, .alpha), the
  format AUTOMATIC1111, ComfyUI, SD.Next and InvokeAI load (diffusers' own file they do not:
  shared/reference/stable-diffusion.md §6);
- model/: the whole pipeline with the LoRA fused in (or the trained UNet), safetensors, loadable with
  `StableDiffusionPipeline.from_pretrained`, plus fmtune_model.json (task, base model, prompts, resolution).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from fmtune.atomic import staged_dir
from fmtune.jobs.config import JobConfig
from fmtune.jobs.layout import JobLayout
from fmtune.models.diffusion import LORA_FILE, MODEL_RECORD, DiffusionParts, load_pipeline, pipeline_of
from fmtune.training.joblog import JobLog


def kohya_file_name(job_name: str) -> str:
    return f"{job_name}.kohya.safetensors"


def save_diffusion_outputs(job: JobConfig, model_dir: Path, parts: DiffusionParts, instance_prompt: str,
                           layout: JobLayout, log: JobLog) -> None:
    hp = job.hp
    if hp.peft_type == "lora":
        with staged_dir(layout.adapter, replace=True) as folder:
            save_lora_files(parts, folder, job.job_name, hp.lora_r, hp.resolution)
        log(f"saved LoRA to {layout.adapter / LORA_FILE} (diffusers) and "
            f"{layout.adapter / kohya_file_name(job.job_name)} (AUTOMATIC1111/ComfyUI)")
        pipeline = fused_pipeline(model_dir, layout.adapter)
    else:
        pipeline = pipeline_of(parts)
    record = {"task": "text-to-image", "base_model": job.model, "instance_prompt": instance_prompt,
              "resolution": hp.resolution, "peft_type": hp.peft_type}
    with staged_dir(layout.model, replace=True) as folder:
        pipeline.save_pretrained(folder, safe_serialization=True)
        (folder / MODEL_RECORD).write_text(json.dumps(record, indent=2) + "\n")
    log(f"saved the {'merged ' if hp.peft_type == 'lora' else ''}pipeline to {layout.model}")


def lora_state_dicts(parts: DiffusionParts) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The UNet's (and text encoder's) LoRA weights under diffusers' names."""
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft.utils import get_peft_model_state_dict

    unet = convert_state_dict_to_diffusers(get_peft_model_state_dict(parts.unet))
    trained_text = getattr(parts.text_encoder, "peft_config", None)
    text = convert_state_dict_to_diffusers(get_peft_model_state_dict(parts.text_encoder)) if trained_text else None
    return unet, text


def save_lora_files(parts: DiffusionParts, folder: Path, job_name: str, rank: int, resolution: int) -> None:
    from diffusers import StableDiffusionPipeline
    from safetensors.torch import load_file, save_file

    unet, text = lora_state_dicts(parts)
    StableDiffusionPipeline.save_lora_weights(folder, unet_lora_layers=unet, text_encoder_lora_layers=text,
                                              weight_name=LORA_FILE, safe_serialization=True)
    kohya = to_kohya(load_file(folder / LORA_FILE))
    save_file(kohya, folder / kohya_file_name(job_name), metadata=kohya_metadata(parts, job_name, rank, resolution))


def kohya_metadata(parts: DiffusionParts, job_name: str, rank: int, resolution: int) -> dict[str, str]:
    """The sd-scripts metadata WebUIs read: the SD version (AUTOMATIC1111 hides LoRAs of another version) and
    v-parameterisation. SD 2.x has OpenCLIP's text encoder, whose activation is gelu (SD 1.x's CLIP: quick_gelu)."""
    v2 = parts.text_encoder.config.hidden_act == "gelu"
    v_prediction = parts.prediction_type == "v_prediction"
    architecture = ("stable-diffusion-v2-768-v" if v_prediction else "stable-diffusion-v2-512") if v2 else (
        "stable-diffusion-v1")
    return {"ss_network_module": "networks.lora", "ss_network_dim": str(rank), "ss_network_alpha": str(rank),
            "ss_v2": str(v2), "ss_v_parameterization": str(v_prediction),
            "ss_base_model_version": "sd_v2" if v2 else "sd_v1", "ss_resolution": f"({resolution}, {resolution})",
            "ss_output_name": job_name, "modelspec.architecture": f"{architecture}/lora"}


def to_kohya(diffusers_lora: dict[str, Any]) -> dict[str, Any]:
    """diffusers' LoRA keys (unet.….lora.down.weight) as kohya's (lora_unet_….lora_down.weight + .alpha):
    through PEFT's names, as diffusers' own advanced DreamBooth script converts them. diffusers names the text
    encoder lora_te1_ (SDXL's first encoder); SD 1.x/2.x WebUIs and kohya's sd-scripts call it lora_te_, with
    the CLIP module path they know (text_model.encoder…, which transformers 5 shortened to encoder…)."""
    from diffusers.utils import convert_all_state_dict_to_peft, convert_state_dict_to_kohya

    kohya = convert_state_dict_to_kohya(convert_all_state_dict_to_peft(diffusers_lora))
    return {re.sub(r"^lora_te1_(text_model_)?", "lora_te_text_model_", key): value.contiguous()
            for key, value in kohya.items()}


def fused_pipeline(model_dir: Path, adapter_dir: Path) -> Any:
    """The base pipeline, freshly loaded, with the saved LoRA file loaded and fused into its weights: the merged
    model is made from the file users get, so that file is proven to load."""
    import torch

    pipeline = load_pipeline(model_dir, torch.device("cpu"))
    pipeline.load_lora_weights(adapter_dir, weight_name=LORA_FILE)
    pipeline.fuse_lora()
    pipeline.unload_lora_weights()
    return pipeline
