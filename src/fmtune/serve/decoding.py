"""Per-request decoding inside one batched `generate`: each row keeps its own temperature, top_p, seed,
token limit, stop tokens and stop strings, and streams its text as soon as it is safe to show.

transformers applies one sampling setting to a whole batch, so the batch runs in greedy mode and
`RowSampler` (a logits processor) draws each sampling row's token with that row's own generator, then
leaves only that token possible. `RowStopper` (a stopping criterion, called once per step with every
row's newest token) ends rows one by one and hands out text deltas. A row whose own work fails (sampling,
decoding) ends alone with an error; the rest of the batch goes on.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch

log = logging.getLogger("fmtune.serve")
FinishReason = str  # "stop" (EOS or a stop string), "length", "cancelled", "error"
GREEDY_BELOW = 1e-5  # a colder temperature leaves all mass on the top token anyway; dividing by it overflows


@dataclass(frozen=True)
class SamplingParams:
    max_new_tokens: int
    temperature: float = 0.0  # below GREEDY_BELOW: greedy
    top_p: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = ()
    top_k: int | None = None  # None: no limit
    num_beams: int = 1  # > 1: beam search (Flan-T5's num_beams), instead of sampling
    beam: int = 0  # with beam search: which of the best beams this row answers with (0: the best)

    @property
    def greedy(self) -> bool:
        return self.temperature < GREEDY_BELOW


@dataclass
class Event:
    """What a request's consumer receives: text deltas, then one final event."""

    text: str = ""
    finished: bool = False
    finish_reason: FinishReason | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    error: str | None = None
    token_ids: list[int] = field(default_factory=list)  # final event: the generated tokens


class StopStrings:
    """Cuts text at the first stop string and holds back a tail that might be the start of one."""

    def __init__(self, stops: tuple[str, ...]) -> None:
        self.stops = tuple(s for s in stops if s)
        self.text = ""
        self.emitted = 0

    def push(self, delta: str) -> tuple[str, bool]:
        """(text safe to emit now, whether a stop string was reached)."""
        self.text += delta
        if not self.stops:
            return self._emit(len(self.text)), False
        longest = max(map(len, self.stops))
        start = max(0, self.emitted - longest + 1)
        hits = [i for i in (self.text.find(s, start) for s in self.stops) if i >= 0]
        if hits:
            return self._emit(min(hits)), True
        hold = 0
        for stop in self.stops:
            for size in range(min(len(stop) - 1, len(self.text)), 0, -1):
                if self.text.endswith(stop[:size]):
                    hold = max(hold, size)
                    break
        return self._emit(max(self.emitted, len(self.text) - hold)), False

    def flush(self) -> str:
        return self._emit(len(self.text))

    def _emit(self, end: int) -> str:
        out, self.emitted = self.text[self.emitted:end], max(self.emitted, end)
        return out


class Detokenizer:
    """Incremental decoding that never splits a multi-byte character or a word-piece join (TGI/vLLM style)."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.tokens: list[int] = []
        self.prefix_offset = 0
        self.read_offset = 0

    def push(self, token: int) -> str:
        self.tokens.append(token)
        decode = self.tokenizer.decode
        prefix = decode(self.tokens[self.prefix_offset:self.read_offset], skip_special_tokens=True)
        text = decode(self.tokens[self.prefix_offset:], skip_special_tokens=True)
        if len(text) > len(prefix) and not text.endswith("\ufffd"):
            self.prefix_offset, self.read_offset = self.read_offset, len(self.tokens)
            return text[len(prefix):]
        return ""

    def flush(self) -> str:
        """Whatever was held back (an incomplete character at the very end)."""
        decode = self.tokenizer.decode
        prefix = decode(self.tokens[self.prefix_offset:self.read_offset], skip_special_tokens=True)
        text = decode(self.tokens[self.prefix_offset:], skip_special_tokens=True)
        self.read_offset = len(self.tokens)
        return text[len(prefix):] if text.startswith(prefix) else ""


@dataclass
class Row:
    """One request's place in a batch."""

    prompt_tokens: int
    params: SamplingParams
    stop_token_ids: frozenset[int]
    emit: Callable[[Event], None]
    tokenizer: Any
    cancelled: threading.Event
    on_first_token: Callable[[], None] = lambda: None
    done: bool = False
    finish_reason: FinishReason | None = None
    completion_tokens: int = 0
    generator: torch.Generator | None = None
    detokenizer: Detokenizer = field(init=False)
    stops: StopStrings = field(init=False)

    def __post_init__(self) -> None:
        self.detokenizer = Detokenizer(self.tokenizer)
        self.stops = StopStrings(self.params.stop)

    def step(self, token: int) -> None:
        if self.done:
            return
        if self.completion_tokens == 0:
            self.on_first_token()
        if self.cancelled.is_set():
            self.finish("cancelled")
            return
        if token in self.stop_token_ids:
            self.finish("stop")
            return
        self.completion_tokens += 1
        text, hit = self.stops.push(self.detokenizer.push(token))
        if hit:
            self._send(text)
            self.finish("stop", flush=False)
        else:
            self._send(text)
            if self.completion_tokens >= self.params.max_new_tokens:
                self.finish("length")

    def finish(self, reason: FinishReason, flush: bool = True, error: str | None = None) -> None:
        if self.done:
            return
        if flush and error is None:
            text, hit = self.stops.push(self.detokenizer.flush())
            reason = "stop" if hit else reason
            self._send(text if hit else text + self.stops.flush())
        self.done, self.finish_reason = True, reason
        self.emit(Event(finished=True, finish_reason=reason, prompt_tokens=self.prompt_tokens,
                        completion_tokens=self.completion_tokens, error=error,
                        token_ids=list(self.detokenizer.tokens)))

    @contextlib.contextmanager
    def failing_alone(self, what: str) -> Iterator[None]:
        """An exception in this row's own work ends this row with an error, not the whole batch."""
        try:
            yield
        except Exception as err:
            log.exception("%s failed for one row", what)
            self.finish("error", flush=False, error=f"{what} failed: {type(err).__name__}: {err}")

    def _send(self, text: str) -> None:
        if text:
            self.emit(Event(text=text))


class RowSampler:
    """Logits processor: greedy rows keep their scores; sampling rows get a one-hot of their own draw."""

    def __init__(self, rows: list[Row]) -> None:
        self.rows = rows

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        for i, row in enumerate(self.rows):
            if row.done or row.params.greedy:
                continue
            with row.failing_alone("sampling"):
                token = sample(scores[i], row.params, self._generator(row, scores.device))
                scores[i] = float("-inf")
                scores[i, token] = 0.0
        return scores

    @staticmethod
    def _generator(row: Row, device: torch.device) -> torch.Generator:
        if row.generator is None:
            row.generator = torch.Generator(device=device)
            seed = row.params.seed if row.params.seed is not None else secrets.randbits(63)
            row.generator.manual_seed(seed % (2**63))
        return row.generator


def sample(logits: torch.Tensor, params: SamplingParams, generator: torch.Generator) -> int:
    """One token from softmax(logits / temperature), restricted to the top_k tokens and the top_p probability mass.

    In float32, shifted so the largest logit is 0 before scaling: no temperature overflows to inf or nan."""
    logits = logits.float()
    if params.greedy:
        return int(logits.argmax())
    logits = (logits - logits.max()) / params.temperature
    if params.top_k is not None and params.top_k < logits.numel():
        logits[logits < torch.topk(logits, params.top_k).values[-1]] = float("-inf")
    if params.top_p < 1.0:
        ordered, order = torch.sort(logits, descending=True)
        probs = torch.softmax(ordered, dim=-1)
        outside = torch.cumsum(probs, dim=-1) - probs > params.top_p  # keeps at least the most likely token
        ordered[outside] = float("-inf")
        logits = torch.full_like(logits, float("-inf")).scatter(0, order, ordered)
    probs = torch.softmax(logits, dim=-1)
    return int(torch.multinomial(probs, 1, generator=generator).item())


class RowStopper:
    """Stopping criterion: each row's newest token goes to its `Row`; the batch ends when all rows are done."""

    def __init__(self, rows: list[Row]) -> None:
        self.rows = rows

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        newest = input_ids[:, -1].tolist()
        for row, token in zip(self.rows, newest, strict=True):
            with row.failing_alone("decoding"):
                row.step(token)
        return torch.tensor([row.done for row in self.rows], dtype=torch.bool, device=input_ids.device)
