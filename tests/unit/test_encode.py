"""Tokenization: which tokens carry loss, EOS placement, blocks, truncation (real SmolLM2 tokenizer)."""

from __future__ import annotations

from fmtune.data.channels import Conversation, PromptCompletion
from fmtune.data.encode import (
    IGNORE_INDEX,
    cut_blocks,
    document_ids,
    encode_chat,
    encode_in_workers,
    encode_prompt_completion,
)
from fmtune.data.prompting import end_of_turn_ids
from fmtune.data.readers import Row


def test_prompt_tokens_carry_no_loss_and_completion_ends_with_eos(smollm_tokenizer):
    tok = smollm_tokenizer
    record = PromptCompletion("Name a prime number.\n\n### Response:\n", "Seven is prime.", "t:1")
    [example], stats = encode_prompt_completion(tok, [record], max_length=512)
    prompt_len = len(tok(record.prompt)["input_ids"])
    assert example.labels[:prompt_len] == [IGNORE_INDEX] * prompt_len
    assert example.labels[prompt_len:] == example.input_ids[prompt_len:]
    assert example.input_ids[-1] == tok.eos_token_id
    assert tok.decode(example.input_ids[prompt_len:-1]) == "Seven is prime."
    assert stats.examples == 1 and stats.truncated == 0


def test_truncation_keeps_the_start_and_drops_examples_with_no_target_left(smollm_tokenizer):
    long_prompt = PromptCompletion("word " * 100, "answer", "t:1")
    short = PromptCompletion("Q: ", "a long answer " * 20, "t:2")
    examples, stats = encode_prompt_completion(smollm_tokenizer, [long_prompt, short], max_length=16)
    assert stats.truncated == 2 and stats.dropped == 1
    assert len(examples) == 1 and len(examples[0].input_ids) == 16


def test_domain_documents_are_separated_by_eos_and_cut_into_blocks(smollm_tokenizer):
    tok = smollm_tokenizer
    docs, _ = document_ids(tok, [Row("first document", "a:1"), Row("second document", "a:2")])
    assert all(d[-1] == tok.eos_token_id for d in docs)
    blocks = cut_blocks(docs, block_size=3)
    stream = [t for d in docs for t in d]
    assert [t for b in blocks for t in b.input_ids] == stream[: sum(len(b.input_ids) for b in blocks)]
    assert all(len(b.input_ids) == 3 for b in blocks[:-1])
    assert all(b.labels == b.input_ids for b in blocks)


def test_chat_loss_only_on_assistant_turns_including_end_of_turn(smollm_tokenizer):
    tok = smollm_tokenizer
    conversation = Conversation(
        [
            {"role": "user", "content": "Hi there"},
            {"role": "assistant", "content": "Hello!"},
            {"role": "user", "content": "Bye"},
            {"role": "assistant", "content": "Goodbye."},
        ],
        "c:1",
    )
    [example], _ = encode_chat(tok, [conversation], max_length=512)
    pairs = zip(example.input_ids, example.labels, strict=True)
    learned = tok.decode([t for t, label in pairs if label != IGNORE_INDEX])
    assert learned == "Hello!<|im_end|>\nGoodbye.<|im_end|>\n"
    assert "Hi there" not in learned and "Bye" not in learned.replace("Goodbye", "")


def test_end_of_turn_ids_include_chatml_end_token(smollm_tokenizer):
    ids = end_of_turn_ids(smollm_tokenizer)
    assert smollm_tokenizer.convert_tokens_to_ids("<|im_end|>") in ids


def test_workers_give_the_same_result_as_the_main_process(smollm_tokenizer):
    records = [PromptCompletion(f"Question {i}?", f"Answer number {i}.", f"t:{i}") for i in range(12)]
    single, _ = encode_in_workers(encode_prompt_completion, smollm_tokenizer, records, None, 64)
    multi, stats = encode_in_workers(encode_prompt_completion, smollm_tokenizer, records, 2, 64)
    assert single == multi and stats.examples == 12
