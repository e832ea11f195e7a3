"""Tiny random models of a catalog entry's exact architecture: the whole path, tested without weights.

`fmtune train MODEL_ID --tiny-random` trains one of these instead of the real weights. Each is built
from a transformers config class with the real model's model_type and structural features (GQA/MQA,
rotary vs ALiBi vs learned positions, parallel attention, MoE routing, tied embeddings, T5 relative
attention, Gemma's head_dim) and only its size scaled down: 2 layers, hidden 64, 4 heads, intermediate
128. The tokenizer is the embedded SmolLM2 one, given the family's special tokens and chat template, so
nothing is downloaded. The weights are random: a run only proves that the pipeline works.

ARCHITECTURES holds one plain record per catalog config group (shared/reference/catalog.md, Table B):
the transformers config kwargs, with the real value in a comment wherever a size was scaled down.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from fmtune.atomic import fill_once
from fmtune.catalog import DEFAULT_MODEL_ID, ModelCard, get_card
from fmtune.catalog.formats import format_spec
from fmtune.errors import UserError
from fmtune.paths import models_cache_dir

TINY_VERSION = 1  # bump when a change here should rebuild tiny models already in FMTUNE_HOME
SOURCE_FILE = "fmtune_source.json"

# The scaled-down sizes every tiny model shares; the real ones are in the comments below.
LAYERS, HIDDEN, HEADS, INTERMEDIATE = 2, 64, 4, 128
GROUPED_KV = 2  # GQA (1 < kv heads < heads) at 4 heads; MQA stays 1, MHA stays HEADS

# Special tokens of each family's real tokenizer (tokenizer_config.json / special_tokens_map.json),
# added to the SmolLM2 vocabulary where it lacks them. add_bos/add_eos: what the real tokenizer adds
# to every encoded text.
TOKENIZERS: dict[str, dict[str, Any]] = {
    # meta-llama/Llama-2-7b-hf (also Code Llama, Mistral, Mixtral): sentencepiece, BOS prepended, no pad.
    "llama": {"bos": "<s>", "eos": "</s>", "unk": "<unk>", "pad": None, "add_bos": True},
    # google/gemma-2b: <pad>=0 <eos>=1 <bos>=2 <unk>=3, turn markers 106/107 in every Gemma vocabulary.
    "gemma": {"bos": "<bos>", "eos": "<eos>", "unk": "<unk>", "pad": "<pad>", "add_bos": True,
              "extra": ("<start_of_turn>", "<end_of_turn>")},
    # tiiuae/falcon-7b: only an EOS (<|endoftext|>, id 11); config bos_token_id is the same id.
    "falcon": {"bos": None, "eos": "<|endoftext|>", "unk": None, "pad": None},
    # GPT-2 BPE (gpt2-xl, gpt-j-6B, gpt-neo, LightGPT): <|endoftext|> is bos, eos and unk.
    "gpt2": {"bos": "<|endoftext|>", "eos": "<|endoftext|>", "unk": "<|endoftext|>", "pad": None},
    # GPT-NeoX BPE (RedPajama-INCITE): <|endoftext|>=0, <|padding|>=1 (not set as pad_token).
    "gpt-neox": {"bos": "<|endoftext|>", "eos": "<|endoftext|>", "unk": "<|endoftext|>", "pad": None},
    # cyberagent/calm2-7b-chat generation_config: bos 0 = eos 0 (<|endoftext|>), pad 1 (<|padding|>).
    "calm2": {"bos": "<|endoftext|>", "eos": "<|endoftext|>", "unk": None, "pad": "<|padding|>"},
    # bigscience/bloom: <unk>=0 <s>=1 </s>=2 <pad>=3; no BOS added.
    "bloom": {"bos": "<s>", "eos": "</s>", "unk": "<unk>", "pad": "<pad>"},
    # google/flan-t5: <pad>=0 </s>=1 <unk>=2; EOS appended to every text; no BOS.
    "t5": {"bos": None, "eos": "</s>", "unk": "<unk>", "pad": "<pad>", "add_eos": True},
    # The embedded SmolLM2-135M-Instruct tokenizer as it is.
    "smollm2": {"bos": "<|im_start|>", "eos": "<|im_end|>", "unk": "<|endoftext|>", "pad": "<|im_end|>"},
}


def _llama(kv_heads: int, rope_theta: float, rms_norm_eps: float = 1e-5, tie: bool = False) -> dict[str, Any]:
    return {
        "hidden_size": HIDDEN,
        "num_hidden_layers": LAYERS,
        "num_attention_heads": HEADS,
        "num_key_value_heads": kv_heads,
        "intermediate_size": INTERMEDIATE,
        "hidden_act": "silu",
        "rope_theta": rope_theta,
        "rms_norm_eps": rms_norm_eps,
        "tie_word_embeddings": tie,
    }


def _t5() -> dict[str, Any]:
    # flan-t5 (T5 v1.1): gated-gelu FFN, relative attention (32 buckets, max distance 128), untied
    # lm_head (transformers 5 encodes this as scale_decoder_outputs=False), decoder starts with <pad>.
    return {
        "d_model": HIDDEN,
        "d_kv": HIDDEN // HEADS,
        "d_ff": INTERMEDIATE,
        "num_layers": LAYERS,
        "num_decoder_layers": LAYERS,
        "num_heads": HEADS,
        "relative_attention_num_buckets": 32,
        "relative_attention_max_distance": 128,
        "feed_forward_proj": "gated-gelu",
        "dropout_rate": 0.1,
        "layer_norm_epsilon": 1e-6,
        "tie_word_embeddings": False,
    }


def _gpt_neo() -> dict[str, Any]:
    # Learned positions; global and local (window 256) attention alternating by layer.
    return {
        "hidden_size": HIDDEN,
        "num_layers": LAYERS,
        "num_heads": HEADS,
        "intermediate_size": INTERMEDIATE,  # real: null (= 4 * hidden)
        "attention_types": [[["global", "local"], LAYERS // 2]],  # real: [[["global", "local"], L / 2]]
        "window_size": 256,
        "activation_function": "gelu_new",
        "embed_dropout": 0.0,
        "attention_dropout": 0.0,
        "resid_dropout": 0.0,
        "layer_norm_epsilon": 1e-5,
        "tie_word_embeddings": True,
    }


def _gpt_neox() -> dict[str, Any]:
    # RedPajama-INCITE: full rotary (rotary_pct 1.0), sequential residual, untied output embeddings.
    return {
        "hidden_size": HIDDEN,
        "num_hidden_layers": LAYERS,
        "num_attention_heads": HEADS,
        "intermediate_size": INTERMEDIATE,
        "rotary_pct": 1.0,
        "rotary_emb_base": 10000,
        "use_parallel_residual": False,
        "hidden_act": "gelu",
        "layer_norm_eps": 1e-5,
        "tie_word_embeddings": False,
    }


def _bloom() -> dict[str, Any]:
    # ALiBi positions (no position embeddings), fused query_key_value, embedding layer norm.
    return {
        "hidden_size": HIDDEN,
        "n_layer": LAYERS,
        "n_head": HEADS,
        "apply_residual_connection_post_layernorm": False,
        "layer_norm_epsilon": 1e-5,
        "hidden_dropout": 0.0,
        "attention_dropout": 0.0,
        "tie_word_embeddings": True,
    }


def _falcon_rw() -> dict[str, Any]:
    # Falcon-7B, "RefinedWebModel" layout: multi-query attention (one shared K/V head), attention and
    # MLP in parallel off one layer norm, rotary positions, no biases.
    return {
        "hidden_size": HIDDEN,
        "num_hidden_layers": LAYERS,
        "num_attention_heads": HEADS,
        "ffn_hidden_size": INTERMEDIATE,
        "multi_query": True,
        "parallel_attn": True,
        "new_decoder_architecture": False,
        "alibi": False,
        "bias": False,
        "rope_theta": 10000.0,
        "layer_norm_epsilon": 1e-5,
        "tie_word_embeddings": True,
    }


def _falcon_40b() -> dict[str, Any]:
    # Falcon-40B: new decoder architecture, grouped K/V (num_kv_heads) and two parallel layer norms.
    return {
        "hidden_size": HIDDEN,
        "num_hidden_layers": LAYERS,
        "num_attention_heads": HEADS,
        "num_kv_heads": GROUPED_KV,
        "ffn_hidden_size": INTERMEDIATE,
        "new_decoder_architecture": True,
        "parallel_attn": True,
        "alibi": False,
        "bias": False,
        "rope_theta": 10000.0,
        "layer_norm_epsilon": 1e-5,
        "tie_word_embeddings": True,
    }


# group -> {"model_type", "tokenizer" (a TOKENIZERS key), "positions" (the config key that holds the
# context length, set from the card; None: no absolute positions), "config" (transformers kwargs)}.
# Comments give the real values (Table B of shared/reference/catalog.md and the sources it names).
ARCHITECTURES: dict[str, dict[str, Any]] = {
    # HuggingFaceTB/SmolLM2-135M-Instruct config.json: h 576, L 30, H 9, KV 3, I 1536, rope 1e5, tied.
    "smollm2-135m": {"model_type": "llama", "tokenizer": "smollm2", "positions": "max_position_embeddings",
                     "config": _llama(GROUPED_KV, 100000.0, tie=True)},
    # Llama-2-7b(-chat)-hf: h 4096, L 32, H 32, KV 32 (MHA), I 11008, rope 1e4, rms 1e-5, untied.
    "llama-2-7b": {"model_type": "llama", "tokenizer": "llama", "positions": "max_position_embeddings",
                   "config": _llama(HEADS, 10000.0)},
    # Llama-2-13b(-chat)-hf: h 5120, L 40, H 40, KV 40 (MHA), I 13824, rope 1e4.
    "llama-2-13b": {"model_type": "llama", "tokenizer": "llama", "positions": "max_position_embeddings",
                    "config": _llama(HEADS, 10000.0)},
    # Llama-2-70b(-chat)-hf: h 8192, L 80, H 64, KV 8 (GQA), I 28672, rope 1e4.
    "llama-2-70b": {"model_type": "llama", "tokenizer": "llama", "positions": "max_position_embeddings",
                    "config": _llama(GROUPED_KV, 10000.0)},
    # CodeLlama-7b(-Python)-hf: h 4096, L 32, H 32, KV 32 (MHA), I 11008, rope 1e6, ctx 16384.
    "codellama-7b": {"model_type": "llama", "tokenizer": "llama", "positions": "max_position_embeddings",
                     "config": _llama(HEADS, 1000000.0)},
    # CodeLlama-13b(-Python)-hf: h 5120, L 40, H 40, KV 40 (MHA), I 13824, rope 1e6.
    "codellama-13b": {"model_type": "llama", "tokenizer": "llama", "positions": "max_position_embeddings",
                      "config": _llama(HEADS, 1000000.0)},
    # CodeLlama-34b(-Python)-hf: h 8192, L 48, H 64, KV 8 (GQA), I 22016, rope 1e6.
    "codellama-34b": {"model_type": "llama", "tokenizer": "llama", "positions": "max_position_embeddings",
                      "config": _llama(GROUPED_KV, 1000000.0)},
    # CodeLlama-70b(-Python)-hf: h 8192, L 80, H 64, KV 8 (GQA), I 28672, rope 1e6 (litgpt config.py
    # entries for CodeLlama-70b-hf / -70b-Python-hf; context from the card).
    "codellama-70b": {"model_type": "llama", "tokenizer": "llama", "positions": "max_position_embeddings",
                      "config": _llama(GROUPED_KV, 1000000.0)},
    # cyberagent/calm2-7b-chat: h 4096, L 32, H 32, KV 32 (MHA), I 11008, rope 5e5, rms 1e-6, ctx 32768.
    "calm2-7b": {"model_type": "llama", "tokenizer": "calm2", "positions": "max_position_embeddings",
                 "config": _llama(HEADS, 500000.0, rms_norm_eps=1e-6)},
    # mistralai/Mistral-7B-v0.1: h 4096, L 32, H 32, KV 8 (GQA), I 14336, sliding_window 4096, rope 1e4.
    "mistral-7b": {"model_type": "mistral", "tokenizer": "llama", "positions": "max_position_embeddings",
                   "config": {**_llama(GROUPED_KV, 10000.0), "sliding_window": 4096}},
    # mistralai/Mixtral-8x7B(-Instruct)-v0.1 config.json: h 4096, L 32, H 32, KV 8, I 14336 per expert,
    # 8 experts top-2, rope 1e6, sliding_window null, router_aux_loss_coef 0.02. output_router_logits
    # is false there; on here so that training sees the load-balancing loss (aux_loss).
    "mixtral-8x7b": {"model_type": "mixtral", "tokenizer": "llama", "positions": "max_position_embeddings",
                     "config": {**_llama(GROUPED_KV, 1000000.0), "sliding_window": None,
                                "num_local_experts": 4,  # real: 8
                                "num_experts_per_tok": 2, "output_router_logits": True,
                                "router_aux_loss_coef": 0.02, "router_jitter_noise": 0.0}},
    # google/gemma-2b: h 2048, L 18, H 8, KV 1 (MQA), head_dim 256 (= h / H), I 16384, rms 1e-6, tied;
    # GeLU-tanh MLP ("hidden_activation": "gelu_pytorch_tanh"), (1 + w) RMSNorm, sqrt(h)-scaled embeddings.
    "gemma-2b": {"model_type": "gemma", "tokenizer": "gemma", "positions": "max_position_embeddings",
                 "config": {"hidden_size": HIDDEN, "num_hidden_layers": LAYERS, "num_attention_heads": HEADS,
                            "num_key_value_heads": 1, "head_dim": HIDDEN // HEADS, "intermediate_size": INTERMEDIATE,
                            "hidden_act": "gelu_pytorch_tanh", "rope_theta": 10000.0, "rms_norm_eps": 1e-6,
                            "tie_word_embeddings": True}},
    # google/gemma-7b: h 3072, L 28, H 16, KV 16 (MHA), head_dim 256 (!= h / H = 192), I 24576.
    "gemma-7b": {"model_type": "gemma", "tokenizer": "gemma", "positions": "max_position_embeddings",
                 "config": {"hidden_size": HIDDEN, "num_hidden_layers": LAYERS, "num_attention_heads": HEADS,
                            "num_key_value_heads": HEADS, "head_dim": 2 * HIDDEN // HEADS,
                            "intermediate_size": INTERMEDIATE, "hidden_act": "gelu_pytorch_tanh",
                            "rope_theta": 10000.0, "rms_norm_eps": 1e-6, "tie_word_embeddings": True}},
    # tiiuae/falcon-7b(-instruct): h 4544, L 32, H 71, multi_query, parallel_attn, I 18176 (4h).
    "falcon-7b": {"model_type": "falcon", "tokenizer": "falcon", "positions": "max_position_embeddings",
                  "config": _falcon_rw()},
    # tiiuae/falcon-40b(-instruct): h 8192, L 60, H 128, num_kv_heads 8, new_decoder_architecture, I 32768.
    "falcon-40b": {"model_type": "falcon", "tokenizer": "falcon", "positions": "max_position_embeddings",
                   "config": _falcon_40b()},
    # openai-community/gpt2-xl: n_embd 1600, n_layer 48, n_head 25, n_inner null (4h), learned positions
    # (n_positions 1024), gelu_new, dropout 0.1, tied input/output embeddings.
    "gpt2-xl": {"model_type": "gpt2", "tokenizer": "gpt2", "positions": "n_positions",
                "config": {"n_embd": HIDDEN, "n_layer": LAYERS, "n_head": HEADS, "n_inner": INTERMEDIATE,
                           "activation_function": "gelu_new", "resid_pdrop": 0.1, "embd_pdrop": 0.1,
                           "attn_pdrop": 0.1, "layer_norm_epsilon": 1e-5, "tie_word_embeddings": True}},
    # EleutherAI/gpt-j-6B (and amazon/LightGPT, built on it): n_embd 4096, n_layer 28, n_head 16, n_inner
    # null (4h), rotary_dim 64 of head_dim 256 (here 4 of 16: the same quarter), attention and MLP in
    # parallel, untied lm_head (with bias).
    "gptj-6b": {"model_type": "gptj", "tokenizer": "gpt2", "positions": "n_positions",
                "config": {"n_embd": HIDDEN, "n_layer": LAYERS, "n_head": HEADS, "n_inner": INTERMEDIATE,
                           "rotary_dim": HIDDEN // HEADS // 4, "activation_function": "gelu_new",
                           "resid_pdrop": 0.0, "embd_pdrop": 0.0, "attn_pdrop": 0.0, "layer_norm_epsilon": 1e-5,
                           "tie_word_embeddings": False}},
    # EleutherAI/gpt-neo-125M: h 768, 12 layers, 12 heads, attention_types [[["global","local"], 6]].
    "gpt-neo-125m": {"model_type": "gpt_neo", "tokenizer": "gpt2", "positions": "max_position_embeddings",
                     "config": _gpt_neo()},
    # EleutherAI/gpt-neo-1.3B: h 2048, 24 layers, 16 heads, [[["global","local"], 12]].
    "gpt-neo-1.3b": {"model_type": "gpt_neo", "tokenizer": "gpt2", "positions": "max_position_embeddings",
                     "config": _gpt_neo()},
    # EleutherAI/gpt-neo-2.7B: h 2560, 32 layers, 20 heads, [[["global","local"], 16]].
    "gpt-neo-2.7b": {"model_type": "gpt_neo", "tokenizer": "gpt2", "positions": "max_position_embeddings",
                     "config": _gpt_neo()},
    # togethercomputer/RedPajama-INCITE-*-3B-v1: h 2560, L 32, H 32, I 10240, rotary_pct 1.0,
    # use_parallel_residual false, untied.
    "redpajama-3b": {"model_type": "gpt_neox", "tokenizer": "gpt-neox", "positions": "max_position_embeddings",
                     "config": _gpt_neox()},
    # togethercomputer/RedPajama-INCITE-7B-*: h 4096, L 32, H 32, I 16384, same flags.
    "redpajama-7b": {"model_type": "gpt_neox", "tokenizer": "gpt-neox", "positions": "max_position_embeddings",
                     "config": _gpt_neox()},
    # bigscience/bloom-3b, bloomz-3b: h 2560, n_layer 30, n_head 32, ALiBi.
    "bloom-3b": {"model_type": "bloom", "tokenizer": "bloom", "positions": None, "config": _bloom()},
    # bigscience/bloom-7b1, bloomz-7b1: h 4096, n_layer 30, n_head 32, ALiBi.
    "bloom-7b1": {"model_type": "bloom", "tokenizer": "bloom", "positions": None, "config": _bloom()},
    # google/flan-t5-small: d_model 512, d_kv 64, d_ff 1024, 8+8 layers, 6 heads.
    "flan-t5-small": {"model_type": "t5", "tokenizer": "t5", "positions": None, "config": _t5()},
    # google/flan-t5-base: d_model 768, d_ff 2048, 12+12 layers, 12 heads.
    "flan-t5-base": {"model_type": "t5", "tokenizer": "t5", "positions": None, "config": _t5()},
    # google/flan-t5-large: d_model 1024, d_ff 2816, 24+24 layers, 16 heads.
    "flan-t5-large": {"model_type": "t5", "tokenizer": "t5", "positions": None, "config": _t5()},
    # google/flan-t5-xl: d_model 2048, d_ff 5120, 24+24 layers, 32 heads.
    "flan-t5-xl": {"model_type": "t5", "tokenizer": "t5", "positions": None, "config": _t5()},
    # google/flan-t5-xxl: d_model 4096, d_ff 10240, 24+24 layers, 64 heads.
    "flan-t5-xxl": {"model_type": "t5", "tokenizer": "t5", "positions": None, "config": _t5()},
}

# Which config group holds each repo's real config (the catalog card's hf_repo).
REPO_GROUPS: dict[str, str] = {
    "HuggingFaceTB/SmolLM2-135M-Instruct": "smollm2-135m",
    "bigscience/bloom-3b": "bloom-3b",
    "bigscience/bloomz-3b": "bloom-3b",
    "bigscience/bloom-7b1": "bloom-7b1",
    "bigscience/bloomz-7b1": "bloom-7b1",
    "codellama/CodeLlama-7b-hf": "codellama-7b",
    "codellama/CodeLlama-7b-Python-hf": "codellama-7b",
    "codellama/CodeLlama-13b-hf": "codellama-13b",
    "codellama/CodeLlama-13b-Python-hf": "codellama-13b",
    "codellama/CodeLlama-34b-hf": "codellama-34b",
    "codellama/CodeLlama-34b-Python-hf": "codellama-34b",
    "codellama/CodeLlama-70b-hf": "codellama-70b",
    "codellama/CodeLlama-70b-Python-hf": "codellama-70b",
    "cyberagent/calm2-7b-chat": "calm2-7b",
    "tiiuae/falcon-7b": "falcon-7b",
    "tiiuae/falcon-7b-instruct": "falcon-7b",
    "tiiuae/falcon-40b": "falcon-40b",
    "tiiuae/falcon-40b-instruct": "falcon-40b",
    "google/flan-t5-small": "flan-t5-small",
    "google/flan-t5-base": "flan-t5-base",
    "google/flan-t5-large": "flan-t5-large",
    "google/flan-t5-xl": "flan-t5-xl",
    "google/flan-t5-xxl": "flan-t5-xxl",
    "google/gemma-2b": "gemma-2b",
    "google/gemma-2b-it": "gemma-2b",
    "google/gemma-7b": "gemma-7b",
    "google/gemma-7b-it": "gemma-7b",
    "openai-community/gpt2-xl": "gpt2-xl",
    "EleutherAI/gpt-j-6B": "gptj-6b",
    "amazon/LightGPT": "gptj-6b",
    "EleutherAI/gpt-neo-125M": "gpt-neo-125m",
    "EleutherAI/gpt-neo-1.3B": "gpt-neo-1.3b",
    "EleutherAI/gpt-neo-2.7B": "gpt-neo-2.7b",
    "meta-llama/Llama-2-7b-hf": "llama-2-7b",
    "meta-llama/Llama-2-7b-chat-hf": "llama-2-7b",
    "meta-llama/Llama-2-13b-hf": "llama-2-13b",
    "meta-llama/Llama-2-13b-chat-hf": "llama-2-13b",
    "meta-llama/Llama-2-70b-hf": "llama-2-70b",
    "meta-llama/Llama-2-70b-chat-hf": "llama-2-70b",
    "mistralai/Mistral-7B-v0.1": "mistral-7b",
    "mistralai/Mixtral-8x7B-v0.1": "mixtral-8x7b",
    "mistralai/Mixtral-8x7B-Instruct-v0.1": "mixtral-8x7b",
    "togethercomputer/RedPajama-INCITE-Base-3B-v1": "redpajama-3b",
    "togethercomputer/RedPajama-INCITE-Chat-3B-v1": "redpajama-3b",
    "togethercomputer/RedPajama-INCITE-Instruct-3B-v1": "redpajama-3b",
    "togethercomputer/RedPajama-INCITE-7B-Base": "redpajama-7b",
    "togethercomputer/RedPajama-INCITE-7B-Chat": "redpajama-7b",
    "togethercomputer/RedPajama-INCITE-7B-Instruct": "redpajama-7b",
}


def tiny_group(card: ModelCard) -> str:
    """The config group of the card's real model; a clear error for models without a tiny variant."""
    if card.task == "text-to-image":
        raise UserError(
            f"--tiny-random builds tiny language models; {card.model_id} ({card.display_name}) is a "
            "text-to-image model. Choose a text model (`fmtune models --task text-generation`)."
        )
    group = REPO_GROUPS.get(card.hf_repo)
    if group is None:
        raise UserError(f"{card.model_id}: no tiny-random architecture is defined for {card.hf_repo}.")
    return group


def tiny_model_dir(card: ModelCard) -> Path:
    return models_cache_dir() / "tiny-random" / card.model_id


def seed_for(model_id: str) -> int:
    """A fixed seed per model id, so the same id always gets the same random weights."""
    return int.from_bytes(hashlib.sha256(model_id.encode()).digest()[:8], "big") % (2**63)


def fingerprint(card: ModelCard) -> str:
    """Changes whenever the tiny model for this card would come out differently."""
    group = tiny_group(card)
    spec = format_spec(card)
    recipe = {
        "version": TINY_VERSION,
        "model_id": card.model_id,
        "context_length": card.context_length,
        "group": group,
        "architecture": ARCHITECTURES[group],
        "tokenizer": TOKENIZERS[ARCHITECTURES[group]["tokenizer"]],
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

    group = tiny_group(card)
    tokens = TOKENIZERS[ARCHITECTURES[group]["tokenizer"]]
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

    group = tiny_group(card)
    arch = ARCHITECTURES[group]
    kwargs = dict(arch["config"])
    if arch["positions"]:
        kwargs[arch["positions"]] = card.context_length
    ids = {"eos_token_id": tokenizer.eos_token_id, "pad_token_id": tokenizer.pad_token_id}
    if arch["model_type"] == "t5":
        ids["decoder_start_token_id"] = tokenizer.pad_token_id  # T5 starts decoding with <pad>
    else:  # GPT-2, Falcon and GPT-NeoX configs use EOS as BOS when the tokenizer has no separate one
        ids["bos_token_id"] = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    config = AutoConfig.for_model(arch["model_type"], vocab_size=len(tokenizer), **kwargs, **ids)
    config.name_or_path = f"tiny-random/{card.model_id}"
    return config


def model_class(card: ModelCard) -> Any:
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM

    return AutoModelForSeq2SeqLM if card.task == "text2text" else AutoModelForCausalLM


def random_model(card: ModelCard, config: Any) -> Any:
    """Randomly initialised weights, the same for the same model id on every machine."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed_for(card.model_id))
        return model_class(card).from_config(config, dtype=torch.float32)


def build_tiny_model(card: ModelCard, target_dir: Path | None = None) -> Path:
    """Build the card's tiny random model into target_dir once (locked, built aside, renamed); reuse it after."""
    stamp = fingerprint(card)

    def build(staging: Path) -> None:
        tokenizer = tiny_tokenizer(card)
        model = random_model(card, tiny_config(card, tokenizer))
        model.save_pretrained(staging, safe_serialization=True)
        tokenizer.save_pretrained(staging)
        # Written last: a folder with a current source record is complete.
        (staging / SOURCE_FILE).write_text(json.dumps(source_record(card, stamp), indent=2) + "\n")

    target = Path(target_dir) if target_dir is not None else tiny_model_dir(card)
    return fill_once(target, build, lambda folder: _is_current(folder, stamp))


def source_record(card: ModelCard, stamp: str) -> dict[str, Any]:
    group = tiny_group(card)
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
        "config_group": group,
        "size": {"layers": LAYERS, "hidden": HIDDEN, "heads": HEADS, "intermediate": INTERMEDIATE},
        "tokenizer": f"embedded SmolLM2-135M-Instruct vocabulary + {ARCHITECTURES[group]['tokenizer']} special tokens",
        "seed": seed_for(card.model_id),
        "fingerprint": stamp,
    }


def _is_current(target: Path, stamp: str) -> bool:
    try:
        record = json.loads((target / SOURCE_FILE).read_text())
    except (OSError, ValueError):
        return False
    return record.get("fingerprint") == stamp and (target / "config.json").exists()


__all__ = [
    "ARCHITECTURES",
    "REPO_GROUPS",
    "TOKENIZERS",
    "build_tiny_model",
    "tiny_config",
    "tiny_group",
    "tiny_model_dir",
    "tiny_tokenizer",
]
