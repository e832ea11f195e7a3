"""Answers of a model to held-out rows: prompted exactly as training encoded them, greedy, batched, stopped by the
format's end-of-turn tokens and stop strings, and marked by how each ended (by itself, or at the length cap)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from fmtune.data.channels import Conversation, PromptCompletion
from fmtune.models.generate import cut_at_stop


@dataclass(frozen=True)
class EvalPrompt:
    input: str  # what a person reads: the prompt as rendered for the model, or the last user turn of a chat
    reference: str
    ids: list[int]  # the model's input, token for token as training saw the prompt
    origin: str  # file:line


@dataclass(frozen=True)
class Answer:
    text: str
    stopped: bool  # ended by itself (EOS, end of turn, a stop string) rather than at max_new_tokens


def eval_prompts(records: Sequence[Any], tokenizer: Any, max_length: int, chat_template: str | None = None
                 ) -> list[EvalPrompt]:
    """Prompt/completion rows and chats that end with an assistant turn (the reference); others are skipped.
    Prompts longer than max_input_length keep their end (where the question meets the answer)."""
    prompts = []
    for record in records:
        if isinstance(record, PromptCompletion):
            ids = tokenizer(record.prompt, add_special_tokens=True)["input_ids"]
            prompts.append(EvalPrompt(record.prompt, record.completion, ids[-max_length:], record.origin))
        elif isinstance(record, Conversation) and record.messages and record.messages[-1]["role"] == "assistant":
            history = record.messages[:-1]
            text = tokenizer.apply_chat_template(history, tokenize=False, add_generation_prompt=True,
                                                 chat_template=chat_template)
            ids = tokenizer(text, add_special_tokens=False)["input_ids"]
            users = [m["content"] for m in history if m["role"] == "user"]
            prompts.append(EvalPrompt(users[-1] if users else text, record.messages[-1]["content"], ids[-max_length:],
                                      record.origin))
    return prompts


@torch.no_grad()
def answer(model: Any, tokenizer: Any, prompts: Sequence[EvalPrompt], *, max_new_tokens: int, eos_ids: list[int],
           stop_strings: list[str], batch_size: int = 8, on_batch: Callable[[], None] = lambda: None) -> list[Answer]:
    """Greedy answers in the prompts' order, generated in batches of similar lengths (left-padded: a decoder
    continues each row from its own last token)."""
    seq2seq = bool(getattr(model.config, "is_encoder_decoder", False))
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos_ids[0]
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i].ids))
    answers: dict[int, Answer] = {}
    device = next(model.parameters()).device
    for start in range(0, len(order), batch_size):
        batch = order[start : start + batch_size]
        width = max(len(prompts[i].ids) for i in batch)
        rows = [prompts[i].ids for i in batch]
        # encoder inputs pad on the right (the encoder reads them whole); decoder prompts on the left
        ids = [(r + [pad] * (width - len(r))) if seq2seq else ([pad] * (width - len(r)) + r) for r in rows]
        mask = [([1] * len(r) + [0] * (width - len(r))) if seq2seq else ([0] * (width - len(r)) + [1] * len(r))
                for r in rows]
        output = model.generate(
            input_ids=torch.tensor(ids, device=device), attention_mask=torch.tensor(mask, device=device),
            max_new_tokens=max_new_tokens, do_sample=False, eos_token_id=eos_ids or None, pad_token_id=pad,
            **({"stop_strings": stop_strings, "tokenizer": tokenizer} if stop_strings else {}),
        )
        new = output[:, 0 if seq2seq else width:].tolist()
        for index, tokens in zip(batch, new, strict=True):
            answers[index] = _answer(tokenizer, tokens, eos_ids, stop_strings, max_new_tokens, seq2seq)
        on_batch()
    return [answers[i] for i in range(len(prompts))]


def _answer(tokenizer: Any, tokens: list[int], eos_ids: list[int], stop_strings: list[str], cap: int,
            seq2seq: bool) -> Answer:
    if seq2seq and tokens and tokens[0] == tokenizer.pad_token_id:  # the decoder's start token
        tokens = tokens[1:]
    ended = next((i for i, t in enumerate(tokens) if t in eos_ids), None)
    text = tokenizer.decode(tokens[:ended] if ended is not None else tokens, skip_special_tokens=True)
    stopped_by_string = any(s in text for s in stop_strings)
    return Answer(cut_at_stop(text, stop_strings).strip(), ended is not None or stopped_by_string or len(tokens) < cap)
