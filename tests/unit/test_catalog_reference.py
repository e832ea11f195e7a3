"""The catalog against the reference: every seed card's JumpStart defaults and facts.

Expected values come from tests/data/jumpstart_defaults.json, transcribed by hand from
shared/reference/jumpstart.md ("Hyperparameters ... Llama 2 7B defaults"), shared/reference/catalog.md
(Table A, Table B, §E) and shared/reference/stable-diffusion.md (§2), not read from fmtune.catalog.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fmtune.catalog import get_card
from fmtune.catalog.models import CARDS
from fmtune.config.hyperparameters import parse_hyperparameters
from fmtune.sagemaker.hyperparameters import retrieve_default
from fmtune.tasks import get_task

from ..conftest import LLAMA2_7B_DEFAULTS

REFERENCE = json.loads((Path(__file__).parents[1] / "data" / "jumpstart_defaults.json").read_text())
MODELS: dict[str, dict] = REFERENCE["models"]
SEED_IDS = [card.model_id for card in CARDS[1:]]  # CARDS[0] is the embedded default, not a JumpStart model


def expected_defaults(set_name: str) -> dict[str, str]:
    entry = REFERENCE["sets"][set_name]
    if "values" in entry:
        return dict(entry["values"])
    return {**expected_defaults(entry["base"]), **entry["with"]}


def test_reference_file_covers_exactly_the_50_seed_models():
    assert len(MODELS) == 50
    assert sorted(MODELS) == sorted(SEED_IDS)


def test_reference_llama2_7b_set_matches_the_conftest_transcription():
    assert expected_defaults("llama-2-7b") == LLAMA2_7B_DEFAULTS


@pytest.mark.parametrize("model_id", sorted(MODELS))
def test_retrieve_default_equals_the_reference(model_id):
    expected = expected_defaults(MODELS[model_id]["defaults"])
    assert retrieve_default(model_id=model_id, model_version="*") == expected


@pytest.mark.parametrize("model_id", sorted(MODELS))
def test_defaults_parse_through_the_schema_without_conflicts(model_id):
    card = get_card(model_id)
    schema = get_task(card.task).schema
    assert set(card.default_hyperparameters) <= set(schema.names())
    parsed = schema.parse(card.default_hyperparameters)  # ConfigError on a bad value or a cross-field conflict
    assert parsed == schema.parse(expected_defaults(MODELS[model_id]["defaults"]))


@pytest.mark.parametrize("model_id", sorted(MODELS))
def test_card_facts_equal_the_reference(model_id):
    ref = MODELS[model_id]
    card = get_card(model_id)
    assert card.model_id == model_id
    assert card.hf_repo == ref["hf_repo"]
    assert card.task == ref["task"]
    assert card.architecture == ref["architecture"]
    assert card.eula_required is ref["eula_required"]
    if ref["lora_target_modules"] is not None:
        assert list(card.lora_target_modules) == ref["lora_target_modules"]
    if ref["context_length"] is not None:
        assert card.context_length == ref["context_length"]
    if ref["license"] is not None:
        assert card.license == ref["license"]


def test_gemma_instruct_is_qlora_without_fsdp():
    for model_id in ("huggingface-llm-gemma-2b-instruct", "huggingface-llm-gemma-7b-instruct"):
        hp = parse_hyperparameters(retrieve_default(model_id=model_id))
        assert hp.quantization == "nf4" and hp.peft_type == "lora" and not hp.enable_fsdp
        assert (hp.lora_r, hp.lora_alpha, hp.lora_dropout) == (64, 16, 0.0)


def test_flan_t5_full_fine_tuning_except_xxl():
    for size in ("small", "base", "large", "xl"):
        assert retrieve_default(model_id=f"huggingface-text2text-flan-t5-{size}")["peft_type"] == "none"
    assert retrieve_default(model_id="huggingface-text2text-flan-t5-xxl")["peft_type"] == "lora"
    assert retrieve_default(model_id="huggingface-text2text-flan-t5-xxl-fp16")["peft_type"] == "lora"


def test_neuron_7b_deviation_is_stated_in_the_card():
    ref = MODELS["meta-textgenerationneuron-llama-2-7b"]
    assert ref["basis"] == "fmtune-deviation"
    jumpstart = ref["jumpstart_values"]["values"]
    card = get_card("meta-textgenerationneuron-llama-2-7b")
    assert card.default_hyperparameters["learning_rate"] != jumpstart["learning_rate"]
    assert "6e-6" in card.notes and "not reproduced" in card.notes
