"""Tiny random models of a catalog entry's exact architecture: the whole path, tested without weights.

`fmtune train MODEL_ID --tiny-random` trains one of these instead of the real weights. Each is built
from a transformers config class with the real model's model_type and structural features (GQA/MQA,
rotary vs ALiBi vs learned positions, parallel attention, MoE routing, tied embeddings, T5 relative
attention, Gemma's head_dim) and only its size scaled down: 2 layers, hidden 64, 4 heads, intermediate
128. The tokenizer is the embedded SmolLM2 one, given the family's special tokens and chat template, so
nothing is downloaded. The weights are random: a run only proves that the pipeline works.

This module is only the logic: what each architecture's tiny model is (the scaled-down transformers config
kwargs, the tokenizer family's special tokens) is data in fmtune.catalog.architectures, in the record the
card names.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from fmtune.atomic import fill_once
from fmtune.catalog import DEFAULT_MODEL_ID, ModelCard, get_card
from fmtune.catalog.architectures import HEADS, HIDDEN, INTERMEDIATE, LAYERS, TOKENIZERS, Architecture
from fmtune.catalog.formats import format_spec
from fmtune.errors import UserError
from fmtune.paths import models_cache_dir

TINY_VERSION = 1  # bump when a change here should rebuild tiny models already in FMTUNE_HOME
SOURCE_FILE = "fmtune_source.json"


def tiny_record(card: ModelCard) -> Architecture:
    """The card's architecture record; a clear error for models without a tiny variant."""
    record = card.architecture_spec
    if record.tiny is None or record.tokenizer is None:
        raise UserError(
            f"--tiny-random: no tiny variant is defined for {card.model_id} ({card.display_name}, a {card.task} "
            f"model of architecture {record.model_type}). Train it with its real weights (drop --tiny-random), or "
            "choose a model that has one (`fmtune models`)."
        )
    return record


def tiny_group(card: ModelCard) -> str:
    """The name of the card's architecture record (its config group); raises as tiny_record does."""
    return tiny_record(card).name


def _recipe(record: Architecture) -> dict[str, Any]:
    """The record as the fingerprint hashes it (the shape of the dict tiny models were first keyed by)."""
    return {"model_type": record.model_type, "tokenizer": record.tokenizer, "positions": record.positions,
            "config": record.tiny}


def tiny_model_dir(card: ModelCard) -> Path:
    return models_cache_dir() / "tiny-random" / card.model_id


def tiny_seed(model_id: str) -> int:
    """A fixed seed per model id, so the same id always gets the same random weights."""
    return int.from_bytes(hashlib.sha256(model_id.encode()).digest()[:8], "big") % (2**63)


def tiny_fingerprint(card: ModelCard) -> str:
    """Changes whenever the tiny model for this card would come out differently."""
    record = tiny_record(card)
    spec = format_spec(card)
    recipe = {
        "version": TINY_VERSION,
        "model_id": card.model_id,
        "context_length": card.context_length,
        "group": record.name,
        "architecture": _recipe(record),
        "tokenizer": TOKENIZERS[record.tokenizer],
        "chat_template": spec.chat_template if spec else None,
        "special_tokens": list(spec.special_tokens) if spec else [],
    }
    return hashlib.sha256(json.dumps(recipe, sort_keys=True, default=str).encode()).hexdigest()[:16]


@lru_cache(maxsize=1)
def _smollm2_tokenizer() -> Any:
    """The embedded SmolLM2 tokenizer: from its converted folder when there, else from the GGUF itself."""
    from transformers import AutoTokenizer

    converted = models_cache_dir() / DEFAULT_MODEL_ID
    if (converted / "tokenizer.json").exists():
        return AutoTokenizer.from_pretrained(converted)
    from fmtune.models.gguf import gguf_location

    gguf = gguf_location(get_card(DEFAULT_MODEL_ID))
    return AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)


def tiny_tokenizer(card: ModelCard) -> Any:
    """SmolLM2's vocabulary with the family's special tokens, chat template and context length."""
    import copy

    from tokenizers import AddedToken

    tokens = TOKENIZERS[tiny_record(card).tokenizer]
    spec = format_spec(card)
    tokenizer = copy.deepcopy(_smollm2_tokenizer())
    named = {f"{role}_token": tokens[role] for role in ("bos", "eos", "unk", "pad") if tokens[role]}
    tokenizer.add_special_tokens(named)
    for role in ("bos", "eos", "unk", "pad"):
        if not tokens[role]:
            setattr(tokenizer, f"{role}_token", None)
    extra = [*tokens.get("extra", ()), *(spec.special_tokens if spec else ())]
    missing = [t for t in dict.fromkeys(extra) if t not in tokenizer.get_vocab()]
    if missing:
        tokenizer.add_tokens([AddedToken(t, special=True, normalized=False) for t in missing], special_tokens=True)
    tokenizer.add_bos_token = bool(tokens.get("add_bos"))
    tokenizer.add_eos_token = bool(tokens.get("add_eos"))
    tokenizer.chat_template = spec.chat_template if spec else None
    tokenizer.model_max_length = card.context_length
    return tokenizer


def tiny_config(card: ModelCard, tokenizer: Any) -> Any:
    """The transformers config of the card's architecture, scaled down, sized to `tokenizer`."""
    from transformers import AutoConfig

    record = tiny_record(card)
    kwargs = dict(record.tiny)
    if record.positions:
        kwargs[record.positions] = card.context_length
    ids = {"eos_token_id": tokenizer.eos_token_id, "pad_token_id": tokenizer.pad_token_id}
    if record.model_type == "t5":
        ids["decoder_start_token_id"] = tokenizer.pad_token_id  # T5 starts decoding with <pad>
    else:  # GPT-2, Falcon and GPT-NeoX configs use EOS as BOS when the tokenizer has no separate one
        ids["bos_token_id"] = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    config = AutoConfig.for_model(record.model_type, vocab_size=len(tokenizer), **kwargs, **ids)
    config.name_or_path = f"tiny-random/{card.model_id}"
    return config


def model_class(config: Any) -> Any:
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM

    return AutoModelForSeq2SeqLM if config.is_encoder_decoder else AutoModelForCausalLM


def random_model(card: ModelCard, config: Any) -> Any:
    """Randomly initialised weights, the same for the same model id on every machine."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(tiny_seed(card.model_id))
        return model_class(config).from_config(config, dtype=torch.float32)


def build_tiny_model(card: ModelCard, target_dir: Path | None = None) -> Path:
    """Build the card's tiny random model into target_dir once (locked, built aside, renamed); reuse it after."""
    target = Path(target_dir) if target_dir is not None else tiny_model_dir(card)
    stamp = tiny_fingerprint(card)

    def build(staging: Path) -> None:
        tokenizer = tiny_tokenizer(card)
        model = random_model(card, tiny_config(card, tokenizer))
        model.save_pretrained(staging, safe_serialization=True)
        tokenizer.save_pretrained(staging)
        # Written last: a folder with a current source record is complete.
        (staging / SOURCE_FILE).write_text(json.dumps(source_record(card, stamp), indent=2) + "\n")

    return fill_once(target, build, lambda folder: is_current(folder, stamp))


def source_record(card: ModelCard, stamp: str) -> dict[str, Any]:
    record = tiny_record(card)
    return {
        "kind": "tiny-random",
        "weights": "random",
        "warning": (
            "RANDOM weights: a scaled-down model of this architecture built only to test the fmtune "
            "pipeline. It has learned nothing; its output is noise."
        ),
        "model_id": card.model_id,
        "display_name": card.display_name,
        "real_weights": card.hf_repo,
        "architecture": card.architecture,
        "config_group": record.name,
        "size": {"layers": LAYERS, "hidden": HIDDEN, "heads": HEADS, "intermediate": INTERMEDIATE},
        "tokenizer": f"embedded SmolLM2-135M-Instruct vocabulary + {record.tokenizer} special tokens",
        "seed": tiny_seed(card.model_id),
        "fingerprint": stamp,
    }


def is_current(target: Path, stamp: str, marker: str = "config.json") -> bool:
    """A tiny model folder built from the recipe with this fingerprint, complete (its `marker` file is there)."""
    try:
        record = json.loads((target / SOURCE_FILE).read_text())
    except (OSError, ValueError):
        return False
    return record.get("fingerprint") == stamp and (target / marker).exists()


__all__ = [
    "build_tiny_model",
    "tiny_config",
    "tiny_fingerprint",
    "tiny_group",
    "tiny_model_dir",
    "tiny_record",
    "tiny_seed",
    "tiny_tokenizer",
]
