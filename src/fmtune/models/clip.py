"""CLIP score: how well an image matches its prompt, 100 · max(cos(image embedding, text embedding), 0) — the
definition torchmetrics' CLIPScore uses — from a local CLIP model in transformers layout (nothing is downloaded)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch


def clip_scorer(folder: Path, device: torch.device) -> Callable[[Path, str], float]:
    """CLIP score of an image file and its prompt: 100 · max(cosine of the two embeddings, 0)."""
    from PIL import Image
    from transformers import CLIPModel, CLIPProcessor

    model = CLIPModel.from_pretrained(folder, use_safetensors=True).to(device).eval()
    processor = CLIPProcessor.from_pretrained(folder)

    @torch.no_grad()
    def score(path: Path, prompt: str) -> float:
        with Image.open(path) as image:
            inputs = processor(text=[prompt], images=image.convert("RGB"), return_tensors="pt", padding=True,
                               truncation=True)
        inputs = {k: v.to(device) for k, v in inputs.items()}
        image = model.get_image_features(pixel_values=inputs["pixel_values"])
        text = model.get_text_features(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"])
        return clip_score(_embedding(image), _embedding(text))

    return score


def _embedding(output: Any) -> torch.Tensor:
    """The projected embedding: transformers 5 returns it as the output's pooler_output, 4 as the tensor itself."""
    return output if isinstance(output, torch.Tensor) else output.pooler_output


def clip_score(image_embedding: torch.Tensor, text_embedding: torch.Tensor) -> float:
    cosine = torch.nn.functional.cosine_similarity(image_embedding.float(), text_embedding.float(), dim=-1)
    return float(100 * cosine.clamp(min=0).mean())


def check_clip_folder(folder: str) -> str | None:
    """Why `folder` is not a local CLIP model (the fix included), or None when it is."""
    path = Path(folder).expanduser()
    config = path / "config.json"
    if not config.is_file():
        return (f"clip_model={folder!r}: {path} has no config.json; give a local CLIP folder in transformers layout "
                "(e.g. a download of openai/clip-vit-large-patch14), or leave clip_model unset.")
    if json.loads(config.read_text()).get("model_type") != "clip":
        return f"clip_model={folder!r}: {config} is not a CLIP model (model_type 'clip'); give a CLIP folder."
    if not list(path.glob("*.safetensors")):
        return f"clip_model={folder!r}: {path} has no *.safetensors weights (fmtune loads no pickled weights)."
    return None
