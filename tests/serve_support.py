"""Helpers for the endpoint tests: tiny random models with the embedded model's real tokenizer, random-init
LoRA adapters, a server on a free loopback port that always shuts down, and ways to batch requests or wait
for the engine without depending on how fast this machine is."""

from __future__ import annotations

import contextlib
import json
import socket
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

import torch

from fmtune.serve.engine import Engine
from fmtune.serve.server import ServerThread
from fmtune.serve.settings import ServeSettings

API_KEY = "test-key-0123456789"
WAIT_S = 120.0  # an upper bound for things that take milliseconds: only reached when something is broken
T = TypeVar("T")


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


def wait_until(condition: Callable[[], bool], what: str, timeout: float = WAIT_S) -> None:
    """Poll `condition` (pausing between tries) until it holds; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.02)


def batched(engine: Engine, calls: list[Callable[[], T]]) -> list[T]:
    """Run `calls` (each one HTTP request of one generation) at once while the engine starts no batch, and
    let it go once all are queued: they are generated in one batch however slow the machine is."""
    before = engine.admitted
    with ThreadPoolExecutor(len(calls)) as pool:
        with engine.held():
            futures = [pool.submit(call) for call in calls]
            wait_until(lambda: engine.admitted >= before + len(calls) or any(f.done() for f in futures),
                       f"{len(calls)} requests to be queued")
        return [future.result(timeout=WAIT_S) for future in futures]


@contextlib.contextmanager
def raw_post(url: str, path: str, body: dict, api_key: str = API_KEY) -> Iterator[socket.socket]:
    """A POST on a plain socket whose answer nobody reads: leaving the block is a client that went away."""
    address = urlsplit(url)
    payload = json.dumps(body).encode()
    head = (f"POST {path} HTTP/1.1\r\nHost: {address.netloc}\r\nAuthorization: Bearer {api_key}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n").encode()
    with socket.create_connection((address.hostname, address.port), timeout=WAIT_S) as sock:
        sock.sendall(head + payload)
        yield sock


def requests_answered(engine: Engine, route: str, status: int) -> float:
    return engine.metrics.counter_value("fmtune_requests_total", route=route, status=str(status))


def finished(engine: Engine, model: str, reason: str) -> float:
    return engine.metrics.counter_value("fmtune_generation_requests_total", model=model, finish_reason=reason)
