"""Architecture numbers of the catalog's models, for memory estimates before any weights are fetched.

(layers, hidden, intermediate, vocab, heads) per Hugging Face repo, from the models' config.json as
compiled in shared/reference/catalog.md, table B. T5: layers = encoder + decoder. Mixtral: the MLP width
counts the two experts active per token.
"""

from __future__ import annotations

_LLAMA2_7B = (32, 4096, 11008, 32000, 32)
_LLAMA2_13B = (40, 5120, 13824, 32000, 40)
_LLAMA2_70B = (80, 8192, 28672, 32000, 64)
_BLOOM_3B = (30, 2560, 10240, 250880, 32)
_BLOOM_7B1 = (30, 4096, 16384, 250880, 32)
_FALCON_7B = (32, 4544, 18176, 65024, 71)
_FALCON_40B = (60, 8192, 32768, 65024, 128)
_GEMMA_2B = (18, 2048, 16384, 256000, 8)
_GEMMA_7B = (28, 3072, 24576, 256000, 16)
_GPTJ = (28, 4096, 16384, 50400, 16)
_RP_3B = (32, 2560, 10240, 50432, 32)
_RP_7B = (32, 4096, 16384, 50432, 32)
_MIXTRAL = (32, 4096, 2 * 14336, 32000, 32)

SHAPES: dict[str, tuple[int, int, int, int, int]] = {
    "HuggingFaceTB/SmolLM2-135M-Instruct": (30, 576, 1536, 49152, 9),
    "bigscience/bloom-3b": _BLOOM_3B,
    "bigscience/bloomz-3b": _BLOOM_3B,
    "bigscience/bloom-7b1": _BLOOM_7B1,
    "bigscience/bloomz-7b1": _BLOOM_7B1,
    "codellama/CodeLlama-7b-hf": (32, 4096, 11008, 32016, 32),
    "codellama/CodeLlama-7b-Python-hf": _LLAMA2_7B,
    "codellama/CodeLlama-13b-hf": (40, 5120, 13824, 32016, 40),
    "codellama/CodeLlama-13b-Python-hf": _LLAMA2_13B,
    "codellama/CodeLlama-34b-hf": (48, 8192, 22016, 32000, 64),
    "codellama/CodeLlama-34b-Python-hf": (48, 8192, 22016, 32000, 64),
    "codellama/CodeLlama-70b-hf": (80, 8192, 28672, 32016, 64),
    "codellama/CodeLlama-70b-Python-hf": (80, 8192, 28672, 32016, 64),
    "cyberagent/calm2-7b-chat": (32, 4096, 11008, 65024, 32),
    "tiiuae/falcon-7b": _FALCON_7B,
    "tiiuae/falcon-7b-instruct": _FALCON_7B,
    "tiiuae/falcon-40b": _FALCON_40B,
    "tiiuae/falcon-40b-instruct": _FALCON_40B,
    "google/flan-t5-small": (16, 512, 1024, 32128, 6),
    "google/flan-t5-base": (24, 768, 2048, 32128, 12),
    "google/flan-t5-large": (48, 1024, 2816, 32128, 16),
    "google/flan-t5-xl": (48, 2048, 5120, 32128, 32),
    "google/flan-t5-xxl": (48, 4096, 10240, 32128, 64),
    "google/gemma-2b": _GEMMA_2B,
    "google/gemma-2b-it": _GEMMA_2B,
    "google/gemma-7b": _GEMMA_7B,
    "google/gemma-7b-it": _GEMMA_7B,
    "openai-community/gpt2-xl": (48, 1600, 6400, 50257, 25),
    "EleutherAI/gpt-j-6B": _GPTJ,
    "amazon/LightGPT": _GPTJ,
    "EleutherAI/gpt-neo-125M": (12, 768, 3072, 50257, 12),
    "EleutherAI/gpt-neo-1.3B": (24, 2048, 8192, 50257, 16),
    "EleutherAI/gpt-neo-2.7B": (32, 2560, 10240, 50257, 20),
    "meta-llama/Llama-2-7b-hf": _LLAMA2_7B,
    "meta-llama/Llama-2-7b-chat-hf": _LLAMA2_7B,
    "meta-llama/Llama-2-13b-hf": _LLAMA2_13B,
    "meta-llama/Llama-2-13b-chat-hf": _LLAMA2_13B,
    "meta-llama/Llama-2-70b-hf": _LLAMA2_70B,
    "meta-llama/Llama-2-70b-chat-hf": _LLAMA2_70B,
    "mistralai/Mistral-7B-v0.1": (32, 4096, 14336, 32000, 32),
    "mistralai/Mixtral-8x7B-v0.1": _MIXTRAL,
    "mistralai/Mixtral-8x7B-Instruct-v0.1": _MIXTRAL,
    "togethercomputer/RedPajama-INCITE-Base-3B-v1": _RP_3B,
    "togethercomputer/RedPajama-INCITE-Chat-3B-v1": _RP_3B,
    "togethercomputer/RedPajama-INCITE-Instruct-3B-v1": _RP_3B,
    "togethercomputer/RedPajama-INCITE-7B-Base": _RP_7B,
    "togethercomputer/RedPajama-INCITE-7B-Chat": _RP_7B,
    "togethercomputer/RedPajama-INCITE-7B-Instruct": _RP_7B,
}
