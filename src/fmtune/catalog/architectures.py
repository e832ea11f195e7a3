"""Architecture records: what every catalog model built on one real config shares, as plain data.

One `Architecture` per config group (shared/reference/catalog.md, Table B): the transformers model_type,
the tokenizer family (a TOKENIZERS key), the config key that holds the context length, the real model's
numbers that memory estimates need (`shape`), and the transformers config kwargs of its tiny random
variant (`tiny`, fmtune.models.tiny), with the real value in a comment wherever a size was scaled down.
A catalog card (fmtune.catalog.models) names its record in `architecture_record`: a model of a known
architecture is one card there, a new architecture one record here.

Tiny models are built from a transformers config class with the real model's model_type and structural
features (GQA/MQA, rotary vs ALiBi vs learned positions, parallel attention, MoE routing, tied embeddings,
T5 relative attention, Gemma's head_dim) and only its size scaled down (the constants below).

No torch, no transformers, no logic beyond lookup.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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
    # stabilityai/stable-diffusion-2-1-base tokenizer/: CLIP BPE, 77 positions, "!" pads (SD 1.x pads with
    # <|endoftext|>). Its tiny variant is a byte-level CLIP vocabulary (fmtune.models.tiny_pipeline).
    "clip": {"bos": "<|startoftext|>", "eos": "<|endoftext|>", "unk": "<|endoftext|>", "pad": "!"},
    # The embedded SmolLM2-135M-Instruct tokenizer as it is.
    "smollm2": {"bos": "<|im_start|>", "eos": "<|im_end|>", "unk": "<|endoftext|>", "pad": "<|im_end|>"},
}


@dataclass(frozen=True)
class RealShape:
    """The real model's numbers that memory depends on, from its config.json as compiled in
    shared/reference/catalog.md, table B [S5]. T5: layers = encoder + decoder. Mixtral: the MLP width
    counts the two experts active per token."""

    layers: int
    hidden: int
    intermediate: int
    vocab: int
    heads: int


@dataclass(frozen=True)
class Architecture:
    """One config group: what the catalog models built on it share."""

    name: str  # the record's key, named after the real model ("llama-2-7b", "flan-t5-base", ...)
    model_type: str  # transformers model_type ("llama", "falcon", "t5", ...) or "stable-diffusion"
    tokenizer: str | None  # a TOKENIZERS key; None: no tiny variant
    positions: str | None  # config key of the context length, set from the card; None: no absolute positions
    shape: RealShape | None  # None: memory estimates need the config (not a causal/seq2seq LM)
    tiny: dict[str, Any] | None  # transformers kwargs of the tiny random variant; None: none is defined


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


def _sd2() -> dict[str, Any]:
    # Shaped like SD 2.x (shared/reference/stable-diffusion.md §5): linear projections in the UNet's
    # transformers, per-block head dims, a VAE that downsamples 8x as the real one does, a gelu CLIP text
    # encoder. The scheduler is 2.1-base's own config (epsilon prediction), unscaled.
    return {
        # real: block_out_channels (320, 640, 1280, 1280), 2 layers per block, heads (5, 10, 20, 20), 1024
        "unet": {"block_out_channels": (32, 64), "layers_per_block": 1, "sample_size": 64,
                 "in_channels": 4, "out_channels": 4,
                 "down_block_types": ("CrossAttnDownBlock2D", "DownBlock2D"),
                 "up_block_types": ("UpBlock2D", "CrossAttnUpBlock2D"),
                 "cross_attention_dim": 32, "attention_head_dim": (2, 4), "use_linear_projection": True},
        # real: block_out_channels (128, 256, 512, 512), 2 layers per block, 32 groups; scaling 0.18215
        "vae": {"block_out_channels": (8, 16, 16, 16), "layers_per_block": 1, "norm_num_groups": 8,
                "in_channels": 3, "out_channels": 3, "latent_channels": 4, "sample_size": 512,
                "down_block_types": ("DownEncoderBlock2D",) * 4, "up_block_types": ("UpDecoderBlock2D",) * 4},
        # real: OpenCLIP ViT-H text tower, hidden 1024, 23 layers, 16 heads, intermediate 4096
        "text_encoder": {"hidden_size": 32, "intermediate_size": 64, "num_attention_heads": 4,
                         "num_hidden_layers": 2, "hidden_act": "gelu", "projection_dim": 32,
                         "max_position_embeddings": 77},
        "scheduler": {"_class_name": "PNDMScheduler", "beta_start": 0.00085, "beta_end": 0.012,
                      "beta_schedule": "scaled_linear", "num_train_timesteps": 1000, "prediction_type": "epsilon",
                      "set_alpha_to_one": False, "skip_prk_steps": True, "steps_offset": 1, "clip_sample": False},
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


_MAX_POS = "max_position_embeddings"

# Comments give the real values (Table B of shared/reference/catalog.md and the sources it names).
_RECORDS: tuple[Architecture, ...] = (
    # HuggingFaceTB/SmolLM2-135M-Instruct config.json: h 576, L 30, H 9, KV 3, I 1536, rope 1e5, tied.
    Architecture("smollm2-135m", "llama", "smollm2", _MAX_POS,
                 shape=RealShape(layers=30, hidden=576, intermediate=1536, vocab=49152, heads=9),
                 tiny=_llama(GROUPED_KV, 100000.0, tie=True)),
    # Llama-2-7b(-chat)-hf: h 4096, L 32, H 32, KV 32 (MHA), I 11008, rope 1e4, rms 1e-5, untied.
    Architecture("llama-2-7b", "llama", "llama", _MAX_POS,
                 shape=RealShape(layers=32, hidden=4096, intermediate=11008, vocab=32000, heads=32),
                 tiny=_llama(HEADS, 10000.0)),
    # Llama-2-13b(-chat)-hf: h 5120, L 40, H 40, KV 40 (MHA), I 13824, rope 1e4.
    Architecture("llama-2-13b", "llama", "llama", _MAX_POS,
                 shape=RealShape(layers=40, hidden=5120, intermediate=13824, vocab=32000, heads=40),
                 tiny=_llama(HEADS, 10000.0)),
    # Llama-2-70b(-chat)-hf: h 8192, L 80, H 64, KV 8 (GQA), I 28672, rope 1e4.
    Architecture("llama-2-70b", "llama", "llama", _MAX_POS,
                 shape=RealShape(layers=80, hidden=8192, intermediate=28672, vocab=32000, heads=64),
                 tiny=_llama(GROUPED_KV, 10000.0)),
    # CodeLlama-7b-hf: h 4096, L 32, H 32, KV 32 (MHA), I 11008, rope 1e6, ctx 16384; vocab 32016
    # (infilling tokens).
    Architecture("codellama-7b", "llama", "llama", _MAX_POS,
                 shape=RealShape(layers=32, hidden=4096, intermediate=11008, vocab=32016, heads=32),
                 tiny=_llama(HEADS, 1000000.0)),
    # CodeLlama-7b-Python-hf: as CodeLlama-7b-hf but vocab 32000 (no infilling tokens).
    Architecture("codellama-7b-python", "llama", "llama", _MAX_POS,
                 shape=RealShape(layers=32, hidden=4096, intermediate=11008, vocab=32000, heads=32),
                 tiny=_llama(HEADS, 1000000.0)),
    # CodeLlama-13b-hf: h 5120, L 40, H 40, KV 40 (MHA), I 13824, rope 1e6; vocab 32016.
    Architecture("codellama-13b", "llama", "llama", _MAX_POS,
                 shape=RealShape(layers=40, hidden=5120, intermediate=13824, vocab=32016, heads=40),
                 tiny=_llama(HEADS, 1000000.0)),
    # CodeLlama-13b-Python-hf: as CodeLlama-13b-hf but vocab 32000.
    Architecture("codellama-13b-python", "llama", "llama", _MAX_POS,
                 shape=RealShape(layers=40, hidden=5120, intermediate=13824, vocab=32000, heads=40),
                 tiny=_llama(HEADS, 1000000.0)),
    # CodeLlama-34b(-Python)-hf: h 8192, L 48, H 64, KV 8 (GQA), I 22016, rope 1e6, vocab 32000.
    Architecture("codellama-34b", "llama", "llama", _MAX_POS,
                 shape=RealShape(layers=48, hidden=8192, intermediate=22016, vocab=32000, heads=64),
                 tiny=_llama(GROUPED_KV, 1000000.0)),
    # CodeLlama-70b(-Python)-hf: h 8192, L 80, H 64, KV 8 (GQA), I 28672, rope 1e6 (litgpt config.py
    # entries for CodeLlama-70b-hf / -70b-Python-hf; context from the card); vocab 32016.
    Architecture("codellama-70b", "llama", "llama", _MAX_POS,
                 shape=RealShape(layers=80, hidden=8192, intermediate=28672, vocab=32016, heads=64),
                 tiny=_llama(GROUPED_KV, 1000000.0)),
    # cyberagent/calm2-7b-chat: h 4096, L 32, H 32, KV 32 (MHA), I 11008, rope 5e5, rms 1e-6, ctx 32768,
    # vocab 65024.
    Architecture("calm2-7b", "llama", "calm2", _MAX_POS,
                 shape=RealShape(layers=32, hidden=4096, intermediate=11008, vocab=65024, heads=32),
                 tiny=_llama(HEADS, 500000.0, rms_norm_eps=1e-6)),
    # mistralai/Mistral-7B-v0.1: h 4096, L 32, H 32, KV 8 (GQA), I 14336, sliding_window 4096, rope 1e4.
    Architecture("mistral-7b", "mistral", "llama", _MAX_POS,
                 shape=RealShape(layers=32, hidden=4096, intermediate=14336, vocab=32000, heads=32),
                 tiny={**_llama(GROUPED_KV, 10000.0), "sliding_window": 4096}),
    # mistralai/Mixtral-8x7B(-Instruct)-v0.1 config.json: h 4096, L 32, H 32, KV 8, I 14336 per expert,
    # 8 experts top-2, rope 1e6, sliding_window null, router_aux_loss_coef 0.02. output_router_logits
    # is false there; on here so that training sees the load-balancing loss (aux_loss).
    Architecture("mixtral-8x7b", "mixtral", "llama", _MAX_POS,
                 shape=RealShape(layers=32, hidden=4096, intermediate=2 * 14336, vocab=32000, heads=32),
                 tiny={**_llama(GROUPED_KV, 1000000.0), "sliding_window": None,
                       "num_local_experts": 4,  # real: 8
                       "num_experts_per_tok": 2, "output_router_logits": True,
                       "router_aux_loss_coef": 0.02, "router_jitter_noise": 0.0}),
    # google/gemma-2b: h 2048, L 18, H 8, KV 1 (MQA), head_dim 256 (= h / H), I 16384, rms 1e-6, tied;
    # GeLU-tanh MLP ("hidden_activation": "gelu_pytorch_tanh"), (1 + w) RMSNorm, sqrt(h)-scaled embeddings.
    Architecture("gemma-2b", "gemma", "gemma", _MAX_POS,
                 shape=RealShape(layers=18, hidden=2048, intermediate=16384, vocab=256000, heads=8),
                 tiny={"hidden_size": HIDDEN, "num_hidden_layers": LAYERS, "num_attention_heads": HEADS,
                       "num_key_value_heads": 1, "head_dim": HIDDEN // HEADS, "intermediate_size": INTERMEDIATE,
                       "hidden_act": "gelu_pytorch_tanh", "rope_theta": 10000.0, "rms_norm_eps": 1e-6,
                       "tie_word_embeddings": True}),
    # google/gemma-7b: h 3072, L 28, H 16, KV 16 (MHA), head_dim 256 (!= h / H = 192), I 24576.
    Architecture("gemma-7b", "gemma", "gemma", _MAX_POS,
                 shape=RealShape(layers=28, hidden=3072, intermediate=24576, vocab=256000, heads=16),
                 tiny={"hidden_size": HIDDEN, "num_hidden_layers": LAYERS, "num_attention_heads": HEADS,
                       "num_key_value_heads": HEADS, "head_dim": 2 * HIDDEN // HEADS,
                       "intermediate_size": INTERMEDIATE, "hidden_act": "gelu_pytorch_tanh",
                       "rope_theta": 10000.0, "rms_norm_eps": 1e-6, "tie_word_embeddings": True}),
    # tiiuae/falcon-7b(-instruct): h 4544, L 32, H 71, multi_query, parallel_attn, I 18176 (4h).
    Architecture("falcon-7b", "falcon", "falcon", _MAX_POS,
                 shape=RealShape(layers=32, hidden=4544, intermediate=18176, vocab=65024, heads=71),
                 tiny=_falcon_rw()),
    # tiiuae/falcon-40b(-instruct): h 8192, L 60, H 128, num_kv_heads 8, new_decoder_architecture, I 32768.
    Architecture("falcon-40b", "falcon", "falcon", _MAX_POS,
                 shape=RealShape(layers=60, hidden=8192, intermediate=32768, vocab=65024, heads=128),
                 tiny=_falcon_40b()),
    # openai-community/gpt2-xl: n_embd 1600, n_layer 48, n_head 25, n_inner null (4h), learned positions
    # (n_positions 1024), gelu_new, dropout 0.1, tied input/output embeddings.
    Architecture("gpt2-xl", "gpt2", "gpt2", "n_positions",
                 shape=RealShape(layers=48, hidden=1600, intermediate=6400, vocab=50257, heads=25),
                 tiny={"n_embd": HIDDEN, "n_layer": LAYERS, "n_head": HEADS, "n_inner": INTERMEDIATE,
                       "activation_function": "gelu_new", "resid_pdrop": 0.1, "embd_pdrop": 0.1,
                       "attn_pdrop": 0.1, "layer_norm_epsilon": 1e-5, "tie_word_embeddings": True}),
    # EleutherAI/gpt-j-6B (and amazon/LightGPT, built on it): n_embd 4096, n_layer 28, n_head 16, n_inner
    # null (4h), rotary_dim 64 of head_dim 256 (here 4 of 16: the same quarter), attention and MLP in
    # parallel, untied lm_head (with bias); vocab 50400 (50257 used).
    Architecture("gptj-6b", "gptj", "gpt2", "n_positions",
                 shape=RealShape(layers=28, hidden=4096, intermediate=16384, vocab=50400, heads=16),
                 tiny={"n_embd": HIDDEN, "n_layer": LAYERS, "n_head": HEADS, "n_inner": INTERMEDIATE,
                       "rotary_dim": HIDDEN // HEADS // 4, "activation_function": "gelu_new",
                       "resid_pdrop": 0.0, "embd_pdrop": 0.0, "attn_pdrop": 0.0, "layer_norm_epsilon": 1e-5,
                       "tie_word_embeddings": False}),
    # EleutherAI/gpt-neo-125M: h 768, 12 layers, 12 heads, attention_types [[["global","local"], 6]].
    Architecture("gpt-neo-125m", "gpt_neo", "gpt2", _MAX_POS,
                 shape=RealShape(layers=12, hidden=768, intermediate=3072, vocab=50257, heads=12),
                 tiny=_gpt_neo()),
    # EleutherAI/gpt-neo-1.3B: h 2048, 24 layers, 16 heads, [[["global","local"], 12]].
    Architecture("gpt-neo-1.3b", "gpt_neo", "gpt2", _MAX_POS,
                 shape=RealShape(layers=24, hidden=2048, intermediate=8192, vocab=50257, heads=16),
                 tiny=_gpt_neo()),
    # EleutherAI/gpt-neo-2.7B: h 2560, 32 layers, 20 heads, [[["global","local"], 16]].
    Architecture("gpt-neo-2.7b", "gpt_neo", "gpt2", _MAX_POS,
                 shape=RealShape(layers=32, hidden=2560, intermediate=10240, vocab=50257, heads=20),
                 tiny=_gpt_neo()),
    # togethercomputer/RedPajama-INCITE-*-3B-v1: h 2560, L 32, H 32, I 10240, rotary_pct 1.0,
    # use_parallel_residual false, untied.
    Architecture("redpajama-3b", "gpt_neox", "gpt-neox", _MAX_POS,
                 shape=RealShape(layers=32, hidden=2560, intermediate=10240, vocab=50432, heads=32),
                 tiny=_gpt_neox()),
    # togethercomputer/RedPajama-INCITE-7B-*: h 4096, L 32, H 32, I 16384, same flags.
    Architecture("redpajama-7b", "gpt_neox", "gpt-neox", _MAX_POS,
                 shape=RealShape(layers=32, hidden=4096, intermediate=16384, vocab=50432, heads=32),
                 tiny=_gpt_neox()),
    # bigscience/bloom-3b, bloomz-3b: h 2560, n_layer 30, n_head 32, ALiBi, I 10240 (= 4h, implicit).
    Architecture("bloom-3b", "bloom", "bloom", None,
                 shape=RealShape(layers=30, hidden=2560, intermediate=10240, vocab=250880, heads=32),
                 tiny=_bloom()),
    # bigscience/bloom-7b1, bloomz-7b1: h 4096, n_layer 30, n_head 32, ALiBi, I 16384 (= 4h).
    Architecture("bloom-7b1", "bloom", "bloom", None,
                 shape=RealShape(layers=30, hidden=4096, intermediate=16384, vocab=250880, heads=32),
                 tiny=_bloom()),
    # google/flan-t5-small: d_model 512, d_kv 64, d_ff 1024, 8+8 layers, 6 heads.
    Architecture("flan-t5-small", "t5", "t5", None,
                 shape=RealShape(layers=16, hidden=512, intermediate=1024, vocab=32128, heads=6),
                 tiny=_t5()),
    # google/flan-t5-base: d_model 768, d_ff 2048, 12+12 layers, 12 heads.
    Architecture("flan-t5-base", "t5", "t5", None,
                 shape=RealShape(layers=24, hidden=768, intermediate=2048, vocab=32128, heads=12),
                 tiny=_t5()),
    # google/flan-t5-large: d_model 1024, d_ff 2816, 24+24 layers, 16 heads.
    Architecture("flan-t5-large", "t5", "t5", None,
                 shape=RealShape(layers=48, hidden=1024, intermediate=2816, vocab=32128, heads=16),
                 tiny=_t5()),
    # google/flan-t5-xl: d_model 2048, d_ff 5120, 24+24 layers, 32 heads.
    Architecture("flan-t5-xl", "t5", "t5", None,
                 shape=RealShape(layers=48, hidden=2048, intermediate=5120, vocab=32128, heads=32),
                 tiny=_t5()),
    # google/flan-t5-xxl: d_model 4096, d_ff 10240, 24+24 layers, 64 heads.
    Architecture("flan-t5-xxl", "t5", "t5", None,
                 shape=RealShape(layers=48, hidden=4096, intermediate=10240, vocab=32128, heads=64),
                 tiny=_t5()),
    # stabilityai/stable-diffusion-2-1-base: a diffusers pipeline (UNet, CLIP text encoder, VAE), not a
    # transformers LM: no LM shape (its memory estimate reads the component configs); the tiny variant is
    # one kwargs dict per component (fmtune.models.tiny_pipeline).
    Architecture("stable-diffusion-2-1", "stable-diffusion", "clip", None, shape=None, tiny=_sd2()),
)

ARCHITECTURES: dict[str, Architecture] = {record.name: record for record in _RECORDS}


def get_architecture(name: str) -> Architecture:
    """The record of that name (a catalog card's `architecture_record`)."""
    try:
        return ARCHITECTURES[name]
    except KeyError:
        raise KeyError(f"no architecture record {name!r} in fmtune.catalog.architectures") from None


__all__ = [
    "ARCHITECTURES",
    "GROUPED_KV",
    "HEADS",
    "HIDDEN",
    "INTERMEDIATE",
    "LAYERS",
    "TOKENIZERS",
    "Architecture",
    "RealShape",
    "get_architecture",
]
