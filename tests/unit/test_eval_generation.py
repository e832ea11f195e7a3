"""Evaluation answers: batched generation gives each row what it would get alone (left padding for decoders,
right for encoders), `stopped` tells an answer that ended by itself from one cut at the cap, and held-out rows
are prompted token for token as training encoded them."""

from __future__ import annotations

from pathlib import Path

import pytest

from fmtune.data.channels import Conversation, PromptCompletion
from fmtune.data.readers import Row
from fmtune.evaluation.generation import EvalPrompt, answer, eval_prompts
from fmtune.models.loading import load_pretrained, load_tokenizer
from tests.serve_support import build_tiny_llama, build_tiny_t5

QUESTIONS = ["Hi", "What does `json.loads` do with a long and winding string of text?", "2 + 2 =",
             "Name a colour.", "Summarise: the quick brown fox jumps over the lazy dog, twice, then sleeps."]


@pytest.fixture(scope="module", params=["decoder", "encoder-decoder"])
def tiny(request, embedded_model_dir: Path, tmp_path_factory):
    folder = tmp_path_factory.mktemp(request.param)
    build = build_tiny_llama if request.param == "decoder" else build_tiny_t5
    build(folder, embedded_model_dir)
    tokenizer = load_tokenizer(folder)
    import torch

    return load_pretrained(folder, torch.device("cpu"), seq2seq=request.param != "decoder"), tokenizer


def prompts_of(tokenizer, texts):
    return [EvalPrompt(t, "ref", tokenizer(t, add_special_tokens=True)["input_ids"], f"q:{i}") for i, t in
            enumerate(texts)]


def test_a_batch_answers_each_row_as_it_would_be_answered_alone(tiny):
    model, tokenizer = tiny
    prompts = prompts_of(tokenizer, QUESTIONS)
    eos = [tokenizer.eos_token_id]
    together = answer(model, tokenizer, prompts, max_new_tokens=12, eos_ids=eos, stop_strings=[], batch_size=8)
    alone = [answer(model, tokenizer, [p], max_new_tokens=12, eos_ids=eos, stop_strings=[])[0] for p in prompts]
    assert together == alone
    assert all(a.text for a in together)  # random weights still write something


def greedy_tokens(model, tokenizer, prompt: EvalPrompt, n: int) -> list[int]:
    import torch

    output = model.generate(input_ids=torch.tensor([prompt.ids]), max_new_tokens=n, do_sample=False,
                            pad_token_id=tokenizer.pad_token_id, eos_token_id=None)[0].tolist()
    return output[1:] if model.config.is_encoder_decoder else output[len(prompt.ids):]


def test_stopped_tells_an_answer_that_ended_by_itself_from_one_cut_at_the_cap(tiny):
    model, tokenizer = tiny
    (prompt,) = prompts_of(tokenizer, QUESTIONS[:1])
    tokens = greedy_tokens(model, tokenizer, prompt, 6)
    never = [t for t in range(len(tokenizer)) if t not in tokens][:1]  # an end token the answer never makes
    capped = answer(model, tokenizer, [prompt], max_new_tokens=6, eos_ids=never, stop_strings=[])
    assert not capped[0].stopped
    # the same answer, ended by making its own third token an end-of-turn token
    ended = answer(model, tokenizer, [prompt], max_new_tokens=6, eos_ids=tokens[2:3], stop_strings=[])
    assert ended[0].stopped
    assert ended[0].text == tokenizer.decode(tokens[: tokens.index(tokens[2])], skip_special_tokens=True).strip()


def test_a_stop_string_ends_and_is_cut_from_the_answer(tiny):
    model, tokenizer = tiny
    (prompt,) = prompts_of(tokenizer, QUESTIONS[:1])
    full = answer(model, tokenizer, [prompt], max_new_tokens=10, eos_ids=[tokenizer.eos_token_id], stop_strings=[])
    stop = full[0].text.split()[-1]
    cut = answer(model, tokenizer, [prompt], max_new_tokens=10, eos_ids=[tokenizer.eos_token_id], stop_strings=[stop])
    assert cut[0].stopped and stop not in cut[0].text


def test_held_out_rows_are_prompted_as_training_encoded_them(smollm_tokenizer):
    tokenizer = smollm_tokenizer
    rows = [
        PromptCompletion("Q: what is 2 + 2?\n\n### Response:\n", "4", "a.jsonl:1"),
        Conversation([{"role": "user", "content": "Hello"}, {"role": "assistant", "content": "Hi!"}], "c.jsonl:1"),
        Conversation([{"role": "user", "content": "no answer here"}], "c.jsonl:2"),  # nothing to score against
        Row("raw domain text", "d.csv:2"),
    ]
    prompts = eval_prompts(rows, tokenizer, max_length=512)
    assert [p.origin for p in prompts] == ["a.jsonl:1", "c.jsonl:1"]
    assert prompts[0].ids == tokenizer(rows[0].prompt, add_special_tokens=True)["input_ids"]
    assert prompts[0].reference == "4"
    chat = tokenizer.apply_chat_template(rows[1].messages[:1], tokenize=False, add_generation_prompt=True)
    assert prompts[1].ids == tokenizer(chat, add_special_tokens=False)["input_ids"]
    assert (prompts[1].input, prompts[1].reference) == ("Hello", "Hi!")
    short = eval_prompts(rows[:1], tokenizer, max_length=4)
    assert short[0].ids == prompts[0].ids[-4:]  # a long prompt keeps its end, where the answer starts
