"""Example inference payloads per catalog model, in the shapes JumpStart's model pages and notebooks send
(shared/reference/jumpstart.md, "Inference payloads"): what `JumpStartModel.retrieve_all_examples()` gives.

A base LM gets a text-generation payload on raw text; a chat or instruct model the same payload with the
prompt already in its family's format (as JumpStart's examples for Llama 2 Chat write `<s>[INST] ... [/INST]`);
Flan-T5 its `text_inputs` payload. The family format is rendered from the catalog's chat template.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fmtune.catalog.card import ModelCard
from fmtune.catalog.formats import format_spec

QUESTION = "What is the recipe of mayonnaise?"
CHAT_PARAMETERS = {"max_new_tokens": 256, "top_p": 0.9, "temperature": 0.6}
TEXT_PROMPTS = ("I believe the meaning of life is", "Simply put, the theory of relativity states that")


@dataclass(frozen=True)
class ExamplePayload:
    """A request body with the types it is sent with (SageMaker's JumpStartSerializablePayload). `output_keys`
    are JMESPath expressions into the response, as notebooks read them: `jmespath.search(payload.raw_payload[
    "output_keys"]["generated_text"], response)`."""

    body: Any
    output_keys: Mapping[str, str]
    content_type: str = "application/json"
    accept: str = "application/json"
    prompt_key: str = "inputs"
    description: str = ""

    @property
    def raw_payload(self) -> dict[str, Any]:
        return {"body": self.body, "content_type": self.content_type, "accept": self.accept,
                "prompt_key": self.prompt_key, "output_keys": dict(self.output_keys)}


def generated_text_key(card: ModelCard | None) -> str:
    """The key of each answer in a text-generation response: JumpStart's Llama 2 containers answer
    `[{"generation": ...}]`, the TGI containers of every other family (Code Llama included)
    `[{"generated_text": ...}]`."""
    return "generation" if card is not None and card.model_id.startswith("meta-textgeneration-llama-2") else \
        "generated_text"


def example_payloads(card: ModelCard) -> list[ExamplePayload]:
    if card.task == "text2text":
        return [ExamplePayload(
            {"text_inputs": "Translate to German: My name is Arthur", "max_length": 50, "num_return_sequences": 1,
             "top_k": 50, "top_p": 0.95, "do_sample": True},
            {"generated_text": "generated_texts[0]"}, prompt_key="text_inputs", description="translation",
        )]
    if card.task != "text-generation":
        return []
    output_keys = {"generated_text": f"[0].{generated_text_key(card)}"}
    spec = format_spec(card)
    if spec is not None and spec.chat_template:
        return [ExamplePayload({"inputs": render_chat(spec.chat_template, [{"role": "user", "content": QUESTION}]),
                                "parameters": dict(CHAT_PARAMETERS)}, output_keys,
                               description="one user turn, in the family's chat format")]
    return [ExamplePayload({"inputs": prompt, "parameters": {"max_new_tokens": 64, "top_p": 0.9, "temperature": 0.6,
                                                             "return_full_text": False}}, output_keys,
                           description="completion")
            for prompt in TEXT_PROMPTS]


def render_chat(template: str, messages: list[dict[str, str]]) -> str:
    """The catalog's chat template rendered as tokenizers render it (markers are literal text in it)."""
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str) -> None:
        raise ValueError(message)

    environment = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    environment.globals["raise_exception"] = raise_exception
    return environment.from_string(template).render(messages=messages, add_generation_prompt=True)
