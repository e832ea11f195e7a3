"""Generate text from a tuned model (or a base model) with the prompt format it was trained on."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from fmtune.catalog import ModelCard
from fmtune.data.prompting import PromptFormat
from fmtune.models.loading import for_inference, load_pretrained, load_tokenizer, quiet_libraries, training_device


@dataclass
class LoadedModel:
    model: Any
    tokenizer: Any
    prompt_format: PromptFormat
    path: Path


def load_model_dir(path: Path, prompt_format: PromptFormat | None = None, card: ModelCard | None = None
                   ) -> LoadedModel:
    """A model folder ready to generate, prompted as saved with it (or as `prompt_format` says; an untuned
    catalog model `card` as its family is prompted)."""
    from transformers import AutoConfig

    quiet_libraries()
    tokenizer = load_tokenizer(path)
    fmt = prompt_format or PromptFormat.load(path) or default_format(tokenizer, card)
    seq2seq = bool(getattr(AutoConfig.from_pretrained(path), "is_encoder_decoder", False))
    model = for_inference(load_pretrained(path, training_device(), seq2seq=seq2seq))
    return LoadedModel(model, tokenizer, fmt, path)


def default_format(tokenizer: Any, card: ModelCard | None = None) -> PromptFormat:
    """An untuned model: chat when it (or, for a catalog model, its family) has a chat template, raw text
    otherwise; a catalog model's format names it (`base_model`), for the endpoint's JumpStart behaviour."""
    from fmtune.catalog.formats import chat_template_for, stop_strings_for
    from fmtune.data.prompting import end_of_turn_ids

    base = card.model_id if card is not None else ""
    template = chat_template_for(card, tokenizer)
    if template:
        family = None if tokenizer.chat_template else template
        return PromptFormat(mode="chat", chat_template=family, eos_token_ids=end_of_turn_ids(tokenizer, family),
                            stop_strings=stop_strings_for(card, tokenizer), base_model=base)
    return PromptFormat(mode="domain", eos_token_ids=[tokenizer.eos_token_id], base_model=base)


@torch.no_grad()
def generate(
    loaded: LoadedModel,
    prompt: str,
    *,
    max_new_tokens: int = 64,
    temperature: float = 0.0,
    top_p: float = 1.0,
    seed: int | None = None,
    fields: dict[str, str] | None = None,
) -> str:
    """The completion only (the prompt is not repeated). Greedy when temperature is 0."""
    text = loaded.prompt_format.render(loaded.tokenizer, prompt, fields)
    inputs = loaded.tokenizer(text, return_tensors="pt", add_special_tokens=loaded.prompt_format.mode != "chat")
    inputs = {k: v.to(loaded.model.device) for k, v in inputs.items()}
    if seed is not None:
        torch.manual_seed(seed)
    sampling = {"do_sample": True, "temperature": temperature, "top_p": top_p} if temperature > 0 else \
        {"do_sample": False}
    stops = loaded.prompt_format.stop_strings
    output = loaded.model.generate(
        **inputs,
        max_new_tokens=max_new_tokens,
        eos_token_id=loaded.prompt_format.eos_token_ids or None,
        pad_token_id=loaded.tokenizer.pad_token_id,
        **({"stop_strings": stops, "tokenizer": loaded.tokenizer} if stops else {}),
        **sampling,
    )
    # Decoder-only models echo the prompt; encoder-decoder outputs hold only the answer.
    start = 0 if loaded.model.config.is_encoder_decoder else inputs["input_ids"].shape[1]
    text = loaded.tokenizer.decode(output[0, start:], skip_special_tokens=True)
    return cut_at_stop(text, stops)


def cut_at_stop(text: str, stops: list[str]) -> str:
    """Drop the stop string (and anything after it) from a completion."""
    cut = min((text.find(s) for s in stops if s in text), default=-1)
    return text if cut < 0 else text[:cut]
