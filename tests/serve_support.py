"""Helpers for the endpoint tests: tiny random models with the embedded model's real tokenizer, random-init
LoRA adapters, and a server on a free loopback port that always shuts down."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import torch

from fmtune.serve.engine import Engine
from fmtune.serve.server import ServerThread
from fmtune.serve.settings import ServeSettings

API_KEY = "test-key-0123456789"


def build_tiny_llama(target: Path, tokenizer_dir: Path, context: int = 128) -> Path:
    """A 2-layer Llama (random weights, safetensors) that reads and writes SmolLM2's tokens."""
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=context,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=True,
    )
    model = LlamaForCausalLM(config)
    model.save_pretrained(target, safe_serialization=True)
    tokenizer.save_pretrained(target)
    return target


def build_tiny_t5(target: Path, tokenizer_dir: Path) -> Path:
    """A 1+1-layer T5 (random weights): a text2text model as the Flan-T5 recipe produces."""
    from transformers import AutoTokenizer, T5Config, T5ForConditionalGeneration

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    tokenizer.chat_template = None
    torch.manual_seed(0)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    config = T5Config(
        vocab_size=len(tokenizer), d_model=16, d_kv=8, d_ff=32, num_layers=1, num_decoder_layers=1, num_heads=2,
        decoder_start_token_id=pad, pad_token_id=pad, eos_token_id=tokenizer.eos_token_id,
    )
    T5ForConditionalGeneration(config).save_pretrained(target, safe_serialization=True)
    tokenizer.save_pretrained(target)
    chat_template = target / "chat_template.jinja"
    if chat_template.exists():
        chat_template.unlink()
    return target


def make_lora_adapter(model_dir: Path, target: Path, seed: int, modules: tuple[str, ...] = ("q_proj", "v_proj"),
                      scale: float = 1.0) -> Path:
    """A LoRA adapter with random, non-zero B, so the adapted model answers differently from the base."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    base = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32, use_safetensors=True)
    peft_model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=list(modules),
                                                 init_lora_weights=False, task_type="CAUSAL_LM"))
    with torch.no_grad():
        for name, parameter in peft_model.named_parameters():
            if "lora_" in name:
                parameter.mul_(scale)
    peft_model.save_pretrained(target, safe_serialization=True)
    return target


@contextlib.contextmanager
def serving(engine: Engine) -> Iterator[ServerThread]:
    with ServerThread(engine) as server:
        yield server


def settings(**overrides: object) -> ServeSettings:
    values: dict[str, object] = {"port": 0, "api_key": API_KEY, "batch_wait_ms": 20.0}
    values.update(overrides)
    return ServeSettings(**values)  # type: ignore[arg-type]
