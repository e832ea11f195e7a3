"""Per-family prompt and chat formats, as data: one Jinja chat template per card `prompt_format`.

A tokenizer that ships its own chat template keeps it (`chat_template_for`); one without gets its
family's template from here, so `chat_dataset=True` renders conversations the way the family was
tuned. Templates write the family's marker tokens as literal text (`<s>`, `<end_of_turn>`, ...):
the real tokenizers map that text to their special tokens, and a tokenizer that lacks them still
encodes the text to a stable token sequence, which is why each format also names `stop_strings`.

Every template is prefix-stable: rendering messages[:i] with add_generation_prompt=True is a
prefix of rendering messages[:i+1], which `fmtune.data.encode.render_with_assistant_spans` relies
on to find the assistant tokens. Families without a system role fold a system message into the
first user turn (as Mistral's and Gemma 3's own templates do).

Source tags ([S7], [S9], ...) refer to the **Sources** list of shared/reference/catalog.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fmtune.catalog.card import ModelCard


@dataclass(frozen=True)
class PromptFormatSpec:
    name: str  # the card's prompt_format key
    chat_template: str | None  # Jinja, rendered by tokenizer.apply_chat_template; None: no chat format
    end_of_turn: str | None  # the text the template closes every assistant turn with
    stop_strings: tuple[str, ...] = ()  # generation stops on these when they are not single tokens
    special_tokens: tuple[str, ...] = ()  # turn markers the family's real tokenizer has as single tokens
    description: str = ""


# Folds a leading system message into the first user turn, for families without a system role.
_FOLD_SYSTEM = (
    "{%- if messages and messages[0]['role'] == 'system' -%}"
    "{%- set system_text = messages[0]['content'].strip() -%}{%- set turns = messages[1:] -%}"
    "{%- else -%}{%- set system_text = '' -%}{%- set turns = messages -%}{%- endif -%}"
)
_USER_CONTENT = (  # the user's text, with the system text in front on the first user turn
    "{%- if loop.first and system_text -%}{%- set content = system_text + '\\n\\n' + message['content'].strip() -%}"
    "{%- else -%}{%- set content = message['content'].strip() -%}{%- endif -%}"
)

# Llama 2 Chat: meta-llama/Llama-2-7b-chat-hf tokenizer_config.json chat_template, which follows
# Meta's reference `chat_completion` (llama/generation.py): `<s>[INST] <<SYS>>\n{system}\n<</SYS>>\n\n
# {user} [/INST] {answer} </s>` per exchange; also [S7] (ray-llm meta-llama--Llama-2-7b-chat-hf.yaml).
LLAMA_2_CHAT = (
    "{%- if messages and messages[0]['role'] == 'system' -%}"
    "{%- set system_text = messages[0]['content'].strip() -%}{%- set turns = messages[1:] -%}"
    "{%- else -%}{%- set system_text = '' -%}{%- set turns = messages -%}{%- endif -%}"
    "{%- for message in turns -%}"
    "{%- if message['role'] == 'user' -%}"
    "{%- if loop.first and system_text -%}"
    "{%- set content = '<<SYS>>\\n' + system_text + '\\n<</SYS>>\\n\\n' + message['content'].strip() -%}"
    "{%- else -%}{%- set content = message['content'].strip() -%}{%- endif -%}"
    "{{- '<s>[INST] ' + content + ' [/INST]' -}}"
    "{%- elif message['role'] == 'assistant' -%}"
    "{{- ' ' + message['content'].strip() + ' </s>' -}}"
    "{%- endif -%}"
    "{%- endfor -%}"
)

# Mistral / Mixtral Instruct, as the Mixtral-8x7B-Instruct-v0.1 card writes it [S9]:
# `<s> [INST] Instruction [/INST] Model answer</s> [INST] Follow-up instruction [/INST]`. The card's
# tokenization pseudo-code (BOS + tokenize("[INST]") + tokenize(user) + tokenize("[/INST]") +
# tokenize(answer) + EOS + tokenize("[INST]") ..., each `tokenize` adding a prefix space) is where the
# spaces come from, the one after `</s>` included. BOS once at the start; no system role (folded into
# the first user turn).
MISTRAL_INSTRUCT = (
    _FOLD_SYSTEM + "{{- '<s>' -}}"
    "{%- for message in turns -%}"
    "{%- if message['role'] == 'user' -%}" + _USER_CONTENT + "{{- ' [INST] ' + content + ' [/INST]' -}}"
    "{%- elif message['role'] == 'assistant' -%}{{- ' ' + message['content'].strip() + '</s>' -}}"
    "{%- endif -%}"
    "{%- endfor -%}"
)

# Gemma Instruct: google/gemma-2b-it / gemma-7b-it tokenizer_config.json chat_template and [S2]
# (JumpStart payload `<bos><start_of_turn>user\n{msg}<end_of_turn>\n<start_of_turn>model`). Gemma has
# no system role; Gemma 3's template prepends it to the first user turn, as here.
GEMMA_INSTRUCT = (
    _FOLD_SYSTEM + "{{- '<bos>' -}}"
    "{%- for message in turns -%}"
    "{%- if message['role'] == 'user' -%}" + _USER_CONTENT
    + "{{- '<start_of_turn>user\\n' + content + '<end_of_turn>\\n' -}}"
    "{%- elif message['role'] == 'assistant' -%}"
    "{{- '<start_of_turn>model\\n' + message['content'].strip() + '<end_of_turn>\\n' -}}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<start_of_turn>model\\n' -}}{%- endif -%}"
)

# Falcon Instruct: tiiuae/falcon-7b-instruct tokenizer_config.json chat_template (PR #111) [S16]:
# `{system}` + `\n\nUser: {msg}` + `\n\nAssistant: {reply}`, generation prompt `\n\nAssistant:`.
# The published template writes no end marker after a reply; the model itself ends replies with its
# EOS (<|endoftext|>, id 11), so fmtune closes assistant turns with it: a tuned model learns to stop.
FALCON_INSTRUCT = (
    "{%- if messages and messages[0]['role'] == 'system' -%}"
    "{%- set system_text = messages[0]['content'].strip() -%}{%- set turns = messages[1:] -%}"
    "{%- else -%}{%- set system_text = '' -%}{%- set turns = messages -%}{%- endif -%}"
    "{{- system_text -}}"
    "{%- for message in turns -%}"
    "{%- set content = message['content'].strip().replace('\\r\\n', '\\n').replace('\\n\\n', '\\n') -%}"
    "{%- if message['role'] == 'user' -%}{{- '\\n\\nUser: ' + content -}}"
    "{%- elif message['role'] == 'assistant' -%}{{- '\\n\\nAssistant: ' + content + '<|endoftext|>' -}}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '\\n\\nAssistant:' -}}{%- endif -%}"
)

# RedPajama-INCITE Chat: `<human>: [Instruction]\n<bot>:` [S8] (RedPajama-INCITE-Chat-3B-v1 card).
# Replies end with the GPT-NeoX EOS <|endoftext|> so that a tuned model stops (the card's examples
# stop on the next `<human>:`; both are stop strings).
REDPAJAMA_CHAT = (
    _FOLD_SYSTEM + "{%- for message in turns -%}"
    "{%- if message['role'] == 'user' -%}" + _USER_CONTENT + "{{- '<human>: ' + content + '\\n' -}}"
    "{%- elif message['role'] == 'assistant' -%}{{- '<bot>: ' + message['content'].strip() + '<|endoftext|>\\n' -}}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<bot>:' -}}{%- endif -%}"
)

# CALM2-7B-Chat: `USER: {user_message1}\nASSISTANT: {assistant_message1}<|endoftext|>\n` [S14]
# (https://huggingface.co/cyberagent/calm2-7b-chat, "Chat Template"). The card's usage prompt ends in
# `ASSISTANT: `; here the generation prompt stops before that space, because BPE tokenizers fold the
# space into the reply's first token (" It"), which must be trained and generated as a whole.
CALM2_CHAT = (
    _FOLD_SYSTEM + "{%- for message in turns -%}"
    "{%- if message['role'] == 'user' -%}" + _USER_CONTENT + "{{- 'USER: ' + content + '\\n' -}}"
    "{%- elif message['role'] == 'assistant' -%}"
    "{{- 'ASSISTANT: ' + message['content'].strip() + '<|endoftext|>\\n' -}}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- 'ASSISTANT:' -}}{%- endif -%}"
)

# LightGPT: "Below is an instruction that describes a task. Write a response that appropriately
# completes the request.\n### Instruction:\n{instruction}\n### Response:\n", stopping sequences
# "### Response:" and "### End" [S7] (ray-llm models/continuous_batching/amazon--LightGPT.yaml).
LIGHTGPT = (
    _FOLD_SYSTEM + "{{- 'Below is an instruction that describes a task. Write a response that appropriately "
    "completes the request.\\n' -}}"
    "{%- for message in turns -%}"
    "{%- if message['role'] == 'user' -%}" + _USER_CONTENT
    + "{{- '### Instruction:\\n' + content + '\\n### Response:\\n' -}}"
    "{%- elif message['role'] == 'assistant' -%}{{- message['content'].strip() + '\\n### End\\n' -}}"
    "{%- endif -%}"
    "{%- endfor -%}"
)

# ChatML as the embedded SmolLM2-135M-Instruct writes it (HuggingFaceTB/SmolLM2-135M-Instruct
# tokenizer_config.json chat_template, default system prompt included).
CHATML = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\\n' }}"
    "{% endif %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

PROMPT_FORMATS: dict[str, PromptFormatSpec] = {
    spec.name: spec
    for spec in (
        PromptFormatSpec("plain", None, None, description="base LM: raw text, no chat format"),
        PromptFormatSpec("none", None, None, description="not a text model (text-to-image)"),
        PromptFormatSpec("text2text", None, None, description="encoder-decoder: plain prompt -> completion"),
        PromptFormatSpec(
            "chatml", CHATML, "<|im_end|>", ("<|im_end|>",), ("<|im_start|>", "<|im_end|>"),
            "ChatML (<|im_start|>role ... <|im_end|>)",
        ),
        PromptFormatSpec(
            "llama-2-chat", LLAMA_2_CHAT, "</s>", ("</s>",),
            description="Llama 2 Chat: <s>[INST] <<SYS>>...<</SYS>> user [/INST] answer </s>",
        ),
        PromptFormatSpec(
            "mistral-instruct", MISTRAL_INSTRUCT, "</s>", ("</s>",),
            description="Mistral/Mixtral Instruct: <s> [INST] user [/INST] answer</s> [INST] ...",
        ),
        PromptFormatSpec(
            "gemma-instruct", GEMMA_INSTRUCT, "<end_of_turn>", ("<end_of_turn>",),
            ("<start_of_turn>", "<end_of_turn>"),
            "Gemma Instruct: <start_of_turn>user ... <end_of_turn> <start_of_turn>model ...",
        ),
        PromptFormatSpec(
            "falcon-instruct", FALCON_INSTRUCT, "<|endoftext|>", ("<|endoftext|>", "\nUser:"),
            description="Falcon Instruct: User: ... Assistant: ...",
        ),
        PromptFormatSpec(
            "redpajama-chat", REDPAJAMA_CHAT, "<|endoftext|>", ("<|endoftext|>", "<human>:"),
            description="RedPajama-INCITE Chat: <human>: ... <bot>: ...",
        ),
        PromptFormatSpec(
            "calm2-chat", CALM2_CHAT, "<|endoftext|>", ("<|endoftext|>", "\nUSER:"),
            description="CALM2 Chat: USER: ... ASSISTANT: ...<|endoftext|>",
        ),
        PromptFormatSpec(
            "lightgpt", LIGHTGPT, "### End", ("### End", "### Instruction:", "### Response:"),
            description="LightGPT: ### Instruction: ... ### Response: ... ### End",
        ),
    )
}


def format_spec(card: ModelCard | None) -> PromptFormatSpec | None:
    """The card's prompt format (None for models outside the catalog)."""
    if card is None:
        return None
    if card.prompt_format not in PROMPT_FORMATS:
        raise KeyError(f"{card.model_id}: prompt_format {card.prompt_format!r} is not in PROMPT_FORMATS")
    return PROMPT_FORMATS[card.prompt_format]


def chat_template_for(card: ModelCard | None, tokenizer: Any) -> str | None:
    """The tokenizer's own chat template when it has one, else the card's family template, else None."""
    own = getattr(tokenizer, "chat_template", None)
    if own:
        return own
    spec = format_spec(card)
    return spec.chat_template if spec else None


def stop_strings_for(card: ModelCard | None, tokenizer: Any = None) -> list[str]:
    """Text that ends an assistant turn in the card's format, for generation to stop on.

    With a tokenizer: only the strings it does not encode as one token. A single-token end marker
    (</s>, <end_of_turn>, <|endoftext|>) is already an EOS id (`fmtune.data.prompting.end_of_turn_ids`);
    plain-text ones (LightGPT's "### End", Falcon's "\nUser:") need the string match.
    """
    spec = format_spec(card)
    if spec is None:
        return []
    if tokenizer is None:
        return list(spec.stop_strings)
    return [s for s in spec.stop_strings if len(tokenizer(s, add_special_tokens=False)["input_ids"]) != 1]


__all__ = ["PROMPT_FORMATS", "PromptFormatSpec", "chat_template_for", "format_spec", "stop_strings_for"]
