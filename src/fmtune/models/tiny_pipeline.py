"""Tiny random Stable Diffusion pipelines: the text-to-image path, tested without weights or a hub.

`fmtune train model-txt2img-... --tiny-random` trains one of these. Each component is built from the config
class the real pipeline uses (UNet2DConditionModel, AutoencoderKL, CLIPTextModel, the scheduler) with the
kwargs of the card's architecture record (fmtune.catalog.architectures), scaled down. The tokenizer is a real
CLIP BPE tokenizer written from local files: the 512 byte-level symbols of every CLIP vocabulary (each also
as a word end), no merges, the family's special tokens and 77 positions, so prompts tokenize character by
character and nothing is downloaded. The weights are random: a run only proves that the pipeline works.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path
from typing import Any

from fmtune.atomic import fill_once
from fmtune.catalog import ModelCard
from fmtune.catalog.architectures import TOKENIZERS
from fmtune.models.tiny import SOURCE_FILE, is_current, tiny_seed

PIPELINE_VERSION = 1  # bump when a change here should rebuild tiny pipelines already in FMTUNE_HOME


def byte_symbols() -> list[str]:
    """The 256 printable stand-ins of the bytes, in the order GPT-2 and CLIP vocabularies list them."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    others = [b for b in range(256) if b not in printable]  # control bytes and space: shifted above 255
    return [chr(b) for b in printable] + [chr(256 + i) for i in range(len(others))]


def write_clip_vocabulary(folder: Path, special: dict[str, Any]) -> tuple[Path, Path]:
    """vocab.json (each byte symbol, then each as a word end, then the special tokens) and an empty
    merges.txt: a valid CLIP BPE that splits every word into its bytes."""
    symbols = byte_symbols()
    tokens = [*symbols, *(s + "</w>" for s in symbols), special["bos"], special["eos"]]
    vocab = {token: i for i, token in enumerate(dict.fromkeys(tokens))}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
    return folder / "vocab.json", folder / "merges.txt"


def tiny_pipeline_fingerprint(card: ModelCard) -> str:
    record = card.architecture_spec
    recipe = {"version": PIPELINE_VERSION, "model_id": card.model_id, "context_length": card.context_length,
              "components": record.tiny, "tokenizer": TOKENIZERS[record.tokenizer or ""]}
    return hashlib.sha256(json.dumps(recipe, sort_keys=True, default=str).encode()).hexdigest()[:16]


def build_pipeline_components(card: ModelCard, scratch: Path) -> dict[str, Any]:
    """The pipeline's components with random weights, the same for the same model id on every machine."""
    import torch
    from diffusers import AutoencoderKL, SchedulerMixin, UNet2DConditionModel
    from diffusers.schedulers import PNDMScheduler
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    record = card.architecture_spec
    parts, special = record.tiny or {}, TOKENIZERS[record.tokenizer or ""]
    vocab, merges = write_clip_vocabulary(scratch, special)
    tokenizer = CLIPTokenizer(str(vocab), str(merges), bos_token=special["bos"], eos_token=special["eos"],
                              unk_token=special["unk"], pad_token=special["pad"],
                              model_max_length=card.context_length)
    scheduler_config = dict(parts["scheduler"])
    scheduler_class = {"PNDMScheduler": PNDMScheduler}[scheduler_config.pop("_class_name")]
    scheduler: SchedulerMixin = scheduler_class.from_config(scheduler_config)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(tiny_seed(card.model_id))
        unet = UNet2DConditionModel(**parts["unet"])
        vae = AutoencoderKL(**parts["vae"])
        text_encoder = CLIPTextModel(CLIPTextConfig(
            vocab_size=len(tokenizer), bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id, **parts["text_encoder"]))
    return {"unet": unet, "vae": vae, "text_encoder": text_encoder, "tokenizer": tokenizer, "scheduler": scheduler}


def build_tiny_pipeline(card: ModelCard, target: Path) -> Path:
    """Build the card's tiny pipeline into `target` once (locked, built aside, renamed) in diffusers layout."""
    stamp = tiny_pipeline_fingerprint(card)

    def build(staging: Path) -> None:
        from diffusers import StableDiffusionPipeline

        with tempfile.TemporaryDirectory() as scratch:
            components = build_pipeline_components(card, Path(scratch))
            pipeline = StableDiffusionPipeline(**components, safety_checker=None, feature_extractor=None,
                                               requires_safety_checker=False)
            pipeline.save_pretrained(staging, safe_serialization=True)
        (staging / SOURCE_FILE).write_text(json.dumps(_source_record(card, stamp), indent=2) + "\n")

    return fill_once(target, build, lambda folder: is_current(folder, stamp, "model_index.json"))


def _source_record(card: ModelCard, stamp: str) -> dict[str, Any]:
    return {
        "kind": "tiny-random",
        "weights": "random",
        "warning": ("RANDOM weights: a scaled-down Stable Diffusion pipeline built only to test the fmtune "
                    "pipeline. It has learned nothing; its images are noise."),
        "model_id": card.model_id,
        "display_name": card.display_name,
        "real_weights": card.hf_repo,
        "architecture": card.architecture,
        "config_group": card.architecture_record,
        "tokenizer": "CLIP BPE of the 512 byte-level symbols (no merges), written locally",
        "seed": tiny_seed(card.model_id),
        "fingerprint": stamp,
    }


