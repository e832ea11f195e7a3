"""Every catalog text model gets a tiny config of its real architecture: same model_type, same structure.

The expectations below are written from the real config.json files (shared/reference/catalog.md,
Table B), independently of the table in fmtune.models.tiny, so a wrong entry there fails here.
Models are built with a 512-token stub vocabulary: fast, and enough to inspect their modules.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch

from fmtune.catalog import all_cards
from fmtune.catalog.card import ModelCard
from fmtune.models.tiny import random_model, tiny_config, tiny_group

TEXT_CARDS = [c for c in all_cards() if c.task != "text-to-image"]
SEED_TEXT_CARDS = [c for c in TEXT_CARDS if not c.gguf]


@dataclass
class StubTokenizer:
    """What tiny_config reads from a tokenizer: its length and special token ids."""

    size: int = 512
    bos_token_id: int | None = 1
    eos_token_id: int | None = 2
    pad_token_id: int | None = 3

    def __len__(self) -> int:
        return self.size


def ids(cards: list[ModelCard]) -> list[str]:
    return [c.model_id for c in cards]


def test_the_49_seed_text_models_all_have_a_tiny_architecture():
    assert len(SEED_TEXT_CARDS) == 49
    for card in TEXT_CARDS:
        tiny_group(card)  # raises for a card without one


@pytest.fixture(scope="module", params=TEXT_CARDS, ids=ids(TEXT_CARDS))
def built(request) -> tuple[ModelCard, object, torch.nn.Module]:
    card = request.param
    config = tiny_config(card, StubTokenizer())
    return card, config, random_model(card, config)


def heads_and_kv(config) -> tuple[int, int]:
    heads = config.num_attention_heads
    return heads, getattr(config, "num_key_value_heads", heads)


def rope_theta(config) -> float:
    return config.rope_parameters["rope_theta"]


def module_names(model: torch.nn.Module) -> set[str]:
    return {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}


def test_scaled_down_but_same_model_type(built):
    card, config, model = built
    assert config.model_type == card.architecture
    assert config.vocab_size == 512
    layers = getattr(config, "num_hidden_layers", None) or getattr(config, "n_layer", None) or config.num_layers
    hidden = getattr(config, "hidden_size", None) or getattr(config, "n_embd", None) or config.d_model
    assert (layers, hidden) == (2, 64)
    assert sum(p.numel() for p in model.parameters()) < 300_000  # the real ones: 77M to 69B


def test_card_lora_targets_exist_in_the_tiny_model(built):
    card, _, model = built
    assert set(card.lora_target_modules) <= module_names(model), card.lora_target_modules


def test_context_length_is_the_real_one(built):
    card, config, _ = built
    key = {"gpt2": "n_positions", "gptj": "n_positions"}.get(config.model_type, "max_position_embeddings")
    if config.model_type in ("bloom", "t5"):  # ALiBi / relative buckets: no absolute position table
        assert not any("position" in name for name, _ in built[2].named_parameters())
        return
    assert getattr(config, key) == card.context_length


def test_special_token_ids_come_from_the_tokenizer(built):
    card, config, _ = built
    assert config.eos_token_id == 2 and config.pad_token_id == 3
    if card.architecture == "t5":
        assert config.decoder_start_token_id == config.pad_token_id  # T5 decodes from <pad>
    else:
        assert config.bos_token_id == 1


LLAMA_CARDS = [c for c in TEXT_CARDS if c.architecture == "llama"]


@pytest.mark.parametrize("card", LLAMA_CARDS, ids=ids(LLAMA_CARDS))
def test_llama_attention_layout_and_rope_as_the_real_config(card):
    config = tiny_config(card, StubTokenizer())
    heads, kv = heads_and_kv(config)
    grouped = any(size in card.hf_repo for size in ("-70b", "-34b")) or "SmolLM2" in card.hf_repo
    if grouped:  # Llama 2 70B, Code Llama 34B/70B: 64 heads / 8 KV heads; SmolLM2: 9 / 3
        assert 1 < kv < heads and heads % kv == 0
    else:  # Llama 2 7B/13B, Code Llama 7B/13B, CALM2: multi-head
        assert kv == heads
    expected_theta = (
        1e6 if card.hf_repo.startswith("codellama/")
        else 5e5 if "calm2" in card.hf_repo
        else 1e5 if "SmolLM2" in card.hf_repo
        else 1e4
    )
    assert rope_theta(config) == expected_theta
    assert config.tie_word_embeddings is ("SmolLM2" in card.hf_repo)
    assert config.hidden_act == "silu"


def test_mistral_keeps_sliding_window_and_gqa():
    card = next(c for c in TEXT_CARDS if c.architecture == "mistral")
    config = tiny_config(card, StubTokenizer())
    heads, kv = heads_and_kv(config)
    assert config.sliding_window == 4096 and 1 < kv < heads
    assert rope_theta(config) == 1e4


@pytest.mark.parametrize("card", [c for c in TEXT_CARDS if c.architecture == "mixtral"], ids=lambda c: c.model_id)
def test_mixtral_routes_top2_of_experts_with_the_router_aux_loss(card):
    config = tiny_config(card, StubTokenizer())
    assert (config.num_local_experts, config.num_experts_per_tok) == (4, 2)
    assert config.output_router_logits is True and config.router_aux_loss_coef == 0.02
    assert rope_theta(config) == 1e6 and config.sliding_window is None
    model = random_model(card, config)
    experts = [m for name, m in model.named_modules() if name.endswith("mlp.experts")]
    assert len(experts) == 2
    out = model(input_ids=torch.randint(0, 512, (2, 12)))
    assert out.aux_loss is not None and torch.isfinite(out.aux_loss) and out.aux_loss > 0


GEMMA_CARDS = [c for c in TEXT_CARDS if c.architecture == "gemma"]


@pytest.mark.parametrize("card", GEMMA_CARDS, ids=ids(GEMMA_CARDS))
def test_gemma_head_dim_and_multi_query_for_2b(card):
    config = tiny_config(card, StubTokenizer())
    heads, kv = heads_and_kv(config)
    if "gemma-2b" in card.hf_repo:  # 8 heads, 1 KV head; head_dim 256 = 2048 / 8
        assert kv == 1 and config.head_dim * heads == config.hidden_size
    else:  # 16 heads, 16 KV heads; head_dim 256 while 3072 / 16 = 192
        assert kv == heads and config.head_dim * heads != config.hidden_size
    model = random_model(card, config)
    q_proj = next(m for name, m in model.named_modules() if name.endswith("self_attn.q_proj"))
    assert q_proj.out_features == heads * config.head_dim
    assert config.hidden_act == "gelu_pytorch_tanh" and config.tie_word_embeddings is True


FALCON_CARDS = [c for c in TEXT_CARDS if c.architecture == "falcon"]


@pytest.mark.parametrize("card", FALCON_CARDS, ids=ids(FALCON_CARDS))
def test_falcon_7b_is_multi_query_and_40b_the_new_decoder(card):
    config = tiny_config(card, StubTokenizer())
    model = random_model(card, config)
    qkv = next(m for name, m in model.named_modules() if name.endswith("query_key_value"))
    head_dim = config.hidden_size // config.num_attention_heads
    assert config.parallel_attn is True and config.alibi is False and config.bias is False
    if "falcon-7b" in card.hf_repo:  # RefinedWebModel: one shared K/V head
        assert config.multi_query is True and config.new_decoder_architecture is False
        assert qkv.out_features == (config.num_attention_heads + 2) * head_dim
    else:  # falcon-40b: grouped K/V heads (128 / 8)
        assert config.new_decoder_architecture is True
        assert 1 < config.num_kv_heads < config.num_attention_heads
        assert qkv.out_features == (config.num_attention_heads + 2 * config.num_kv_heads) * head_dim


def test_gpt2_learned_positions_and_tied_embeddings():
    card = next(c for c in TEXT_CARDS if c.architecture == "gpt2")
    config = tiny_config(card, StubTokenizer())
    model = random_model(card, config)
    assert model.transformer.wpe.num_embeddings == 1024
    assert model.lm_head.weight.data_ptr() == model.transformer.wte.weight.data_ptr()
    assert config.activation_function == "gelu_new"


GPTJ_CARDS = [c for c in TEXT_CARDS if c.architecture == "gptj"]


@pytest.mark.parametrize("card", GPTJ_CARDS, ids=ids(GPTJ_CARDS))
def test_gptj_partial_rotary_and_untied_head(card):
    config = tiny_config(card, StubTokenizer())
    head_dim = config.n_embd // config.n_head
    assert config.rotary_dim * 4 == head_dim  # GPT-J 6B: 64 of 256
    model = random_model(card, config)
    assert model.lm_head.weight.data_ptr() != model.transformer.wte.weight.data_ptr()
    assert not hasattr(model.transformer, "wpe")


NEO_CARDS = [c for c in TEXT_CARDS if c.architecture == "gpt_neo"]


@pytest.mark.parametrize("card", NEO_CARDS, ids=ids(NEO_CARDS))
def test_gpt_neo_alternates_global_and_local_attention(card):
    config = tiny_config(card, StubTokenizer())
    assert config.attention_layers == ["global", "local"] and config.window_size == 256
    model = random_model(card, config)
    assert [block.attn.attention_type for block in model.transformer.h] == ["global", "local"]


NEOX_CARDS = [c for c in TEXT_CARDS if c.architecture == "gpt_neox"]


@pytest.mark.parametrize("card", NEOX_CARDS, ids=ids(NEOX_CARDS))
def test_redpajama_full_rotary_sequential_residual(card):
    config = tiny_config(card, StubTokenizer())
    assert config.rope_parameters["partial_rotary_factor"] == 1.0
    assert config.use_parallel_residual is False and config.tie_word_embeddings is False


BLOOM_CARDS = [c for c in TEXT_CARDS if c.architecture == "bloom"]


@pytest.mark.parametrize("card", BLOOM_CARDS, ids=ids(BLOOM_CARDS))
def test_bloom_alibi_without_position_embeddings(card):
    config = tiny_config(card, StubTokenizer())
    model = random_model(card, config)
    names = [name for name, _ in model.named_parameters()]
    assert not any("position" in n or "wpe" in n for n in names)
    assert "transformer.word_embeddings_layernorm.weight" in names
    assert model.lm_head.weight.data_ptr() == model.transformer.word_embeddings.weight.data_ptr()


T5_CARDS = [c for c in TEXT_CARDS if c.architecture == "t5"]


@pytest.mark.parametrize("card", T5_CARDS, ids=ids(T5_CARDS))
def test_flan_t5_relative_buckets_gated_gelu_untied(card):
    config = tiny_config(card, StubTokenizer())
    assert (config.relative_attention_num_buckets, config.relative_attention_max_distance) == (32, 128)
    assert config.is_gated_act is True and config.dense_act_fn == "gelu_new"
    assert config.scale_decoder_outputs is False  # transformers 5's encoding of tie_word_embeddings=False
    assert config.is_encoder_decoder and config.num_decoder_layers == 2
    model = random_model(card, config)
    assert type(model).__name__ == "T5ForConditionalGeneration"
    first = model.encoder.block[0].layer[0].SelfAttention
    assert first.has_relative_attention_bias and first.relative_attention_bias.num_embeddings == 32


def test_weights_are_random_but_the_same_for_the_same_id():
    card = next(c for c in TEXT_CARDS if c.model_id == "meta-textgeneration-llama-2-7b")
    other = next(c for c in TEXT_CARDS if c.model_id == "meta-textgeneration-llama-2-7b-f")
    first = random_model(card, tiny_config(card, StubTokenizer())).state_dict()
    again = random_model(card, tiny_config(card, StubTokenizer())).state_dict()
    different = random_model(other, tiny_config(other, StubTokenizer())).state_dict()
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert not all(torch.equal(first[k], different[k]) for k in first)
