"""Turn parsed records into token ids and labels (-100 where no loss is taken)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

from fmtune.data.channels import Conversation, PromptCompletion
from fmtune.data.readers import Row
from fmtune.errors import DataError

IGNORE_INDEX = -100


@dataclass(frozen=True)
class Encoded:
    input_ids: list[int]
    labels: list[int]

    @property
    def n_target_tokens(self) -> int:
        return sum(1 for t in self.labels if t != IGNORE_INDEX)


@dataclass
class EncodeStats:
    examples: int = 0
    truncated: int = 0
    dropped: int = 0  # nothing left to learn after truncation

    def merge(self, other: EncodeStats) -> None:
        self.examples += other.examples
        self.truncated += other.truncated
        self.dropped += other.dropped


def document_ids(tokenizer: Any, texts: Sequence[Row]) -> tuple[list[list[int]], EncodeStats]:
    """Token ids of each domain-adaptation document, EOS appended so documents stay apart."""
    eos = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    ids = [d + eos for d in tokenizer([t.value for t in texts], add_special_tokens=True)["input_ids"]]
    return ids, EncodeStats(examples=len(ids))


def cut_blocks(documents: Sequence[list[int]], block_size: int) -> list[Encoded]:
    """Concatenate the documents and cut the stream into `block_size` blocks (as JumpStart/run_clm do).

    The last, shorter block is kept (padded in the batch) so that small files still train.
    """
    stream = [token for document in documents for token in document]
    blocks = [stream[i : i + block_size] for i in range(0, len(stream), block_size)]
    return [Encoded(b, list(b)) for b in blocks if len(b) > 1]


def encode_prompt_completion(
    tokenizer: Any, records: Sequence[PromptCompletion], max_length: int
) -> tuple[list[Encoded], EncodeStats]:
    """prompt + completion + EOS; loss on the completion and the EOS only (so the model learns to stop)."""
    stats, out = EncodeStats(), []
    for prompt, target in _prompt_and_target_ids(tokenizer, records):
        _append(out, stats, prompt + target, [IGNORE_INDEX] * len(prompt) + target, max_length)
    return out, stats


def encode_seq2seq(
    tokenizer: Any, records: Sequence[PromptCompletion], max_length: int
) -> tuple[list[Encoded], EncodeStats]:
    """Encoder-decoder pairs: `input_ids` is the prompt (encoder input), `labels` the completion + EOS."""
    stats, out = EncodeStats(), []
    for prompt, target in _prompt_and_target_ids(tokenizer, records):
        stats.examples += 1
        if len(prompt) > max_length or len(target) > max_length:
            stats.truncated += 1
        out.append(Encoded(prompt[:max_length], target[:max_length]))
    return out, stats


def _prompt_and_target_ids(
    tokenizer: Any, records: Sequence[PromptCompletion]
) -> Iterator[tuple[list[int], list[int]]]:
    """Token ids of each prompt (with the tokenizer's special tokens) and of its completion + EOS."""
    prompts = tokenizer([r.prompt for r in records], add_special_tokens=True)["input_ids"]
    completions = tokenizer([r.completion for r in records], add_special_tokens=False)["input_ids"]
    for prompt, completion in zip(prompts, completions, strict=True):
        yield prompt, completion + [tokenizer.eos_token_id]


def encode_chat(
    tokenizer: Any, conversations: Sequence[Conversation], max_length: int, chat_template: str | None = None
) -> tuple[list[Encoded], EncodeStats]:
    """Render with the chat template; loss on assistant turns (with their end-of-turn tokens) only."""
    stats, out = EncodeStats(), []
    for conversation in conversations:
        text, spans = render_with_assistant_spans(tokenizer, conversation, chat_template)
        encoding = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        ids = encoding["input_ids"]
        labels = [
            token if any(start <= begin < end for start, end in spans) else IGNORE_INDEX
            for token, (begin, _) in zip(ids, encoding["offset_mapping"], strict=True)
        ]
        _append(out, stats, ids, labels, max_length)
    return out, stats


def render_with_assistant_spans(
    tokenizer: Any, conversation: Conversation, chat_template: str | None = None
) -> tuple[str, list[tuple[int, int]]]:
    """The rendered conversation and the character spans of each assistant reply (incl. its end tokens)."""

    def render(messages: list[dict[str, str]], generation_prompt: bool) -> str:
        return tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=generation_prompt, chat_template=chat_template
        )

    messages = conversation.messages
    spans = []
    for i, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        before = render(messages[:i], True)
        through = render(messages[: i + 1], False)
        if not through.startswith(before):
            raise DataError(
                f"{conversation.origin}: the model's chat template renders earlier turns differently when "
                "later turns are added, so assistant tokens cannot be located; use a template whose "
                "rendering of a prefix is stable."
            )
        spans.append((len(before), len(through)))
    return render(messages, False), spans


def encode_split(
    records: Sequence[Any], mode: str, tokenizer: Any, max_length: int, *, workers: int | None = None,
    chat_template: str | None = None, seq2seq: bool = False,
) -> tuple[list[Encoded], EncodeStats]:
    """One split's examples as the text recipes train on them: encoder-decoder pairs, or for decoders domain blocks,
    prompt + completion, or chat (the recipes, the early data check and Studio's preview all call this)."""
    if seq2seq:
        return encode_in_workers(encode_seq2seq, tokenizer, records, workers, max_length)
    if mode == "domain":
        docs, stats = encode_in_workers(document_ids, tokenizer, records, workers)
        return cut_blocks(docs, max_length), stats
    if mode == "chat":
        return encode_in_workers(encode_chat, tokenizer, records, workers, max_length, chat_template)
    return encode_in_workers(encode_prompt_completion, tokenizer, records, workers, max_length)


def learned_segments(tokenizer: Any, example: Encoded, *, seq2seq: bool = False) -> list[dict[str, Any]]:
    """The example's text in runs of context (no loss) and learned tokens: what a person checks before training.
    Encoder-decoders: the encoder input, then the target."""
    if seq2seq:
        return [{"text": tokenizer.decode(example.input_ids), "learned": False},
                {"text": tokenizer.decode(example.labels), "learned": True}]
    runs: list[tuple[bool, list[int]]] = []
    for token, label in zip(example.input_ids, example.labels, strict=True):
        learned = label != IGNORE_INDEX
        if runs and runs[-1][0] == learned:
            runs[-1][1].append(token)
        else:
            runs.append((learned, [token]))
    return [{"text": tokenizer.decode(ids), "learned": learned} for learned, ids in runs]


def encode_in_workers(
    fn: Callable[..., tuple[list[Any], EncodeStats]],
    tokenizer: Any,
    records: Sequence[Any],
    workers: int | None,
    *args: Any,
) -> tuple[list[Any], EncodeStats]:
    """Run an encoder over chunks of records in `workers` processes (None or 1: this process)."""
    if not workers or workers == 1 or len(records) < 2 * workers:
        return fn(tokenizer, records, *args)
    size = -(-len(records) // workers)
    chunks = [records[i : i + size] for i in range(0, len(records), size)]
    encoded, stats = [], EncodeStats()
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(fn, tokenizer, chunk, *args) for chunk in chunks]
        for future in futures:  # keep the input order
            part, part_stats = future.result()
            encoded.extend(part)
            stats.merge(part_stats)
    return encoded, stats


def _append(out: list[Encoded], stats: EncodeStats, ids: list[int], labels: list[int], max_length: int) -> None:
    stats.examples += 1
    if len(ids) > max_length:
        stats.truncated += 1
        ids, labels = ids[:max_length], labels[:max_length]
    if all(label == IGNORE_INDEX for label in labels[1:]):
        stats.dropped += 1
        return
    out.append(Encoded(ids, labels))
