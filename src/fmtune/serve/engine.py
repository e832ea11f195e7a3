"""The generation engine: one loaded base model (plus LoRA adapters), a queue, and a worker thread that
generates the requests waiting together in one batched, left-padded `generate` call.

Batches mix adapters: PEFT routes each row through its own adapter (`adapter_names`), so many
fine-tunes share one base in memory and in a batch. Weights are read from safetensors only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import queue
import threading
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from fmtune.data.prompting import PromptFormat, end_of_turn_ids
from fmtune.errors import UserError
from fmtune.serve.decoding import Event, Row, RowSampler, RowStopper, SamplingParams
from fmtune.serve.metrics import Metrics
from fmtune.serve.settings import ServeSettings

log = logging.getLogger("fmtune.serve")
BASE_ADAPTER = "__base__"  # PEFT's name for "no adapter" in a mixed batch
_HUGE = 1_000_000


class Overloaded(Exception):
    """More requests than the running batch plus the queue hold."""


@dataclass(frozen=True)
class ServedModel:
    """A name a request can put in its `model` field: the base, or one adapter on it."""

    name: str
    adapter: str | None  # None: the base model
    path: Path
    prompt_format: PromptFormat
    stop_token_ids: frozenset[int]  # EOS of raw-text generation
    chat_stop_token_ids: frozenset[int]  # plus the end-of-turn token of the chat template


@dataclass(frozen=True)
class GenerationJob:
    input_ids: list[int]
    params: SamplingParams
    model: ServedModel
    stop_token_ids: frozenset[int]


@dataclass
class RequestHandle:
    """The caller's side of one generation: an async stream of `Event`s; cancel() ends it early."""

    job: GenerationJob
    loop: asyncio.AbstractEventLoop
    submitted: float = field(default_factory=time.monotonic)
    cancelled: threading.Event = field(default_factory=threading.Event)
    _events: asyncio.Queue = field(default_factory=asyncio.Queue)
    _finished: bool = False

    def emit(self, event: Event) -> None:
        """Called from the worker thread."""
        with contextlib.suppress(RuntimeError):  # the loop is gone: the client left and the server stops
            self.loop.call_soon_threadsafe(self._events.put_nowait, event)

    async def events(self) -> AsyncIterator[Event]:
        try:
            while True:
                event = await self._events.get()
                yield event
                if event.finished:
                    self._finished = True
                    return
        finally:
            if not self._finished:  # the consumer stopped listening (client disconnected)
                self.cancel()

    async def result(self) -> tuple[str, Event]:
        parts = []
        async for event in self.events():
            parts.append(event.text)
            if event.finished:
                return "".join(parts), event
        raise RuntimeError("generation ended without a final event")

    def cancel(self) -> None:
        self.cancelled.set()


class Engine:
    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        base: ServedModel,
        adapters: Mapping[str, ServedModel],
        settings: ServeSettings,
        *,
        is_seq2seq: bool,
        context_length: int,
        metrics: Metrics | None = None,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.base = base
        self.adapters = dict(adapters)
        self.settings = settings
        self.is_seq2seq = is_seq2seq
        self.context_length = context_length
        self.metrics = metrics or Metrics()
        self.generate_calls = 0  # batched `generate` calls so far (tests and /metrics read it)
        self.admitted = 0  # generations ever queued (tests wait on it to know a request has arrived)
        self._queue: queue.Queue[RequestHandle] = queue.Queue()
        self._lock = threading.Lock()
        self._inflight = 0
        self._running = 0
        self._stop = threading.Event()
        self._open = threading.Event()  # cleared by `held()`: the worker starts no batch
        self._open.set()
        self._worker: threading.Thread | None = None
        tokenizer("warm-up")  # a fast tokenizer may reset its padding state on first use: do it before threads share it
        self.metrics.gauge("fmtune_requests_running", lambda: self._running)
        self.metrics.gauge("fmtune_requests_waiting", lambda: self._queue.qsize())

    # --- loading -------------------------------------------------------------------------------

    @classmethod
    def load(
        cls, reference: str, adapters: Mapping[str, str] | None = None, settings: ServeSettings | None = None
    ) -> Engine:
        """Load a job, model folder or model id, and each adapter (name → adapter folder or job)."""
        from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM

        from fmtune.jobs.artifacts import adapter_dir, adapter_format, model_dir
        from fmtune.models.generate import default_format
        from fmtune.models.loading import for_inference, load_tokenizer, quiet_libraries, training_device
        from fmtune.models.source import catalog_card_of

        settings = (settings or ServeSettings()).check()
        quiet_libraries()
        path = model_dir(reference)
        adapter_dirs = {name: adapter_dir(ref) for name, ref in (adapters or {}).items()}
        base_name = settings.served_model_name or default_served_name(reference)
        check_adapter_names(base_name, adapter_dirs)

        tokenizer = load_tokenizer(path)
        config = AutoConfig.from_pretrained(path)
        is_seq2seq = bool(getattr(config, "is_encoder_decoder", False))
        device = training_device()
        dtype = torch.bfloat16 if device.type == "cuda" and torch.cuda.is_bf16_supported() else torch.float32
        auto = AutoModelForSeq2SeqLM if is_seq2seq else AutoModelForCausalLM
        model = for_inference(auto.from_pretrained(path, dtype=dtype, use_safetensors=True))
        for index, (name, folder) in enumerate(adapter_dirs.items()):
            model = attach_adapter(model, name, folder, first=index == 0)
        model.to(device).eval()

        base_format = PromptFormat.load(path) or default_format(tokenizer, catalog_card_of(reference, path))
        base = served_model(base_name, None, path, base_format, tokenizer, model)
        served = {
            name: served_model(name, name, folder, adapter_format(folder) or base_format, tokenizer, model)
            for name, folder in adapter_dirs.items()
        }
        limit = settings.max_model_len or model_context_length(config, tokenizer)
        engine = cls(model, tokenizer, base, served, settings, is_seq2seq=is_seq2seq, context_length=limit)
        return engine.start()

    # --- serving -------------------------------------------------------------------------------

    def start(self) -> Engine:
        if self._worker is None:
            self._worker = threading.Thread(target=self._work, name="fmtune-engine", daemon=True)
            self._worker.start()
        return self

    def close(self) -> None:
        self._stop.set()
        self._open.set()
        if self._worker is not None:
            self._worker.join(timeout=30)
        while not self._queue.empty():  # nobody will generate these any more
            self._finish_unstarted(self._queue.get_nowait(), "cancelled", "the endpoint is shutting down")

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """Start no batch until the block ends: what is submitted meanwhile is generated together (up to
        max_batch_size), whatever the timing. Tests use it to batch requests deterministically."""
        self._open.clear()
        try:
            yield
        finally:
            self._open.set()

    @property
    def inflight(self) -> int:
        """Generations queued or running."""
        return self._inflight

    @property
    def running(self) -> int:
        """Generations in the batch being generated now."""
        return self._running

    def model_names(self) -> list[str]:
        return [self.base.name, *self.adapters]

    def served(self, name: str | None) -> ServedModel | None:
        """The base for an empty name or the base's name, an adapter by its name, else None."""
        if not name or name == self.base.name:
            return self.base
        return self.adapters.get(name)

    def submit(self, jobs: list[GenerationJob]) -> list[RequestHandle]:
        """Queue all jobs of one request, or none of them (429 when the queue is full). Call on the event loop."""
        limit = self.settings.max_batch_size + self.settings.max_queue
        with self._lock:
            if self._inflight + len(jobs) > limit:
                raise Overloaded(
                    f"the endpoint is at its limit of {limit} concurrent requests "
                    f"({self.settings.max_batch_size} generating, {self.settings.max_queue} queued); retry later."
                )
            self._inflight += len(jobs)
            self.admitted += len(jobs)
        loop = asyncio.get_running_loop()
        handles = [RequestHandle(job, loop) for job in jobs]
        for handle in handles:
            self.metrics.inc("fmtune_prompt_tokens_total", len(handle.job.input_ids), model=handle.job.model.name)
            self._queue.put(handle)
        return handles

    # --- the worker ----------------------------------------------------------------------------

    def _work(self) -> None:
        while not self._stop.is_set():
            self._run(self._next_batch())

    def _next_batch(self) -> list[RequestHandle]:
        """The waiting requests, up to max_batch_size: the first, and those arriving within batch_wait_ms."""
        try:
            first = self._queue.get(timeout=0.1)
        except queue.Empty:
            return []
        while not self._open.wait(timeout=0.1):  # held: let the rest arrive (close() opens it)
            pass
        batch = [first]
        deadline = time.monotonic() + self.settings.batch_wait_ms / 1000
        while len(batch) < self.settings.max_batch_size:
            try:  # waiting requests come at once, even past the deadline
                batch.append(self._queue.get(timeout=max(0.0, deadline - time.monotonic())))
            except queue.Empty:
                break
        return batch

    def _run(self, batch: list[RequestHandle]) -> None:
        live = []
        for handle in batch:
            if handle.cancelled.is_set():
                self._finish_unstarted(handle, "cancelled")
            else:
                live.append(handle)
        sampled = [h for h in live if h.job.params.num_beams == 1]
        if sampled:
            self._generate(sampled)
        for searched in beam_groups([h for h in live if h.job.params.num_beams > 1]):
            self._beam_search(searched)

    def _finish_unstarted(self, handle: RequestHandle, reason: str, error: str | None = None) -> None:
        self._row(handle).finish(reason, flush=False, error=error)

    def _row(self, handle: RequestHandle) -> Row:
        job = handle.job
        model_name = job.model.name

        def emit(event: Event) -> None:
            if event.finished:
                with self._lock:
                    self._inflight -= 1
                self.metrics.inc("fmtune_generation_tokens_total", event.completion_tokens, model=model_name)
                self.metrics.inc("fmtune_generation_requests_total", model=model_name,
                                 finish_reason=event.finish_reason or "")
            handle.emit(event)

        def first_token() -> None:
            self.metrics.observe("fmtune_time_to_first_token_seconds", time.monotonic() - handle.submitted)

        return Row(len(job.input_ids), job.params, job.stop_token_ids, emit, self.tokenizer, handle.cancelled,
                   on_first_token=first_token)

    @torch.inference_mode()
    def _generate(self, batch: list[RequestHandle]) -> None:
        from transformers import LogitsProcessorList, StoppingCriteriaList

        rows = [self._row(handle) for handle in batch]
        retry: list[RequestHandle] = []
        self._running = len(rows)
        self.generate_calls += 1
        self.metrics.observe("fmtune_batch_size", len(rows))
        try:
            input_ids, attention_mask = left_pad([h.job.input_ids for h in batch], self.tokenizer.pad_token_id)
            device = self.model.device
            config = self._generation_config(max_new_tokens=max(h.job.params.max_new_tokens for h in batch),
                                             num_beams=1, use_cache=True)
            self.model.generate(
                input_ids=input_ids.to(device),
                attention_mask=attention_mask.to(device),
                generation_config=config,
                logits_processor=LogitsProcessorList([RowSampler(rows)]),
                stopping_criteria=StoppingCriteriaList([RowStopper(rows)]),
                **self._adapter_routing(batch),
            )
            for row in rows:  # rows the model's own limits ended
                row.finish("length")
        except Exception as err:  # one bad batch must not take the endpoint down
            log.exception("generation of a batch of %d failed", len(rows))
            # The cause may be one request: those that have shown nothing yet get a batch of their own.
            for handle, row in zip(batch, rows, strict=True):
                if len(batch) > 1 and unstarted(row):
                    retry.append(handle)
                else:
                    row.finish("error", flush=False, error=f"generation failed: {type(err).__name__}: {err}")
        finally:
            self._running = 0
        for handle in retry:
            self._run([handle])


    @torch.inference_mode()
    def _beam_search(self, handles: list[RequestHandle]) -> None:
        """One prompt's beam search, alone (it keeps num_beams hypotheses per prompt, which the batched sampler
        does not): each handle answers with its own rank among the best beams."""
        rows = [self._row(handle) for handle in handles]
        job = handles[0].job
        self._running = len(rows)
        self.generate_calls += 1
        try:
            input_ids = torch.tensor([job.input_ids], dtype=torch.long, device=self.model.device)
            config = self._generation_config(
                max_new_tokens=job.params.max_new_tokens,
                num_beams=job.params.num_beams,
                num_return_sequences=max(h.job.params.beam for h in handles) + 1,
                early_stopping=True,
                eos_token_id=sorted(job.stop_token_ids) or self.model.generation_config.eos_token_id,
            )
            # num_beams as a keyword too: PEFT then repeats each row's adapter for its beams
            out = self.model.generate(input_ids=input_ids, attention_mask=torch.ones_like(input_ids),
                                      generation_config=config, num_beams=job.params.num_beams,
                                      **self._adapter_routing(handles[:1]))
            generated = out[:, 1:] if self.is_seq2seq else out[:, input_ids.shape[1]:]  # past the decoder start
            for handle, row in zip(handles, rows, strict=True):
                for token in generated[handle.job.params.beam].tolist():
                    row.step(token)
                row.finish("length")
        except Exception as err:  # one bad request must not take the endpoint down
            log.exception("beam search failed")
            for row in rows:
                row.finish("error", flush=False, error=f"generation failed: {type(err).__name__}: {err}")
        finally:
            self._running = 0

    def _generation_config(self, **settings: Any) -> Any:
        """Greedy decoding with the model's special tokens; the logits processors or beams do the rest."""
        from transformers import GenerationConfig

        defaults = self.model.generation_config
        return GenerationConfig(do_sample=False, pad_token_id=self.tokenizer.pad_token_id,
                                bos_token_id=defaults.bos_token_id,
                                decoder_start_token_id=defaults.decoder_start_token_id, **settings)

    def _adapter_routing(self, handles: list[RequestHandle]) -> dict[str, Any]:
        """PEFT's per-row adapter choice (a mixed batch), when adapters are loaded."""
        if not hasattr(self.model, "peft_config"):
            return {}
        return {"adapter_names": [h.job.model.adapter or BASE_ADAPTER for h in handles]}


# --- helpers (pure, tested directly) -------------------------------------------------------------


def beam_groups(handles: list[RequestHandle]) -> list[list[RequestHandle]]:
    """Beam-search handles of the same prompt, model and settings (a request's num_return_sequences rows):
    one search serves them all."""
    groups: dict[tuple, list[RequestHandle]] = {}
    for handle in handles:
        job = handle.job
        key = (tuple(job.input_ids), job.model.name, job.params.num_beams, job.params.max_new_tokens)
        groups.setdefault(key, []).append(handle)
    return list(groups.values())


def unstarted(row: Row) -> bool:
    """Nothing of this row reached its client yet, so it can be generated again from the start."""
    return not row.done and row.completion_tokens == 0


def left_pad(sequences: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Decoder-only models continue from the last position, so prompts are aligned on the right."""
    width = max(len(s) for s in sequences)
    ids = torch.tensor([[pad_id] * (width - len(s)) + list(s) for s in sequences], dtype=torch.long)
    mask = torch.tensor([[0] * (width - len(s)) + [1] * len(s) for s in sequences], dtype=torch.long)
    return ids, mask


def model_context_length(config: Any, tokenizer: Any) -> int:
    for attribute in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        value = getattr(config, attribute, None)
        if isinstance(value, int) and value > 0:
            return value
    if 0 < tokenizer.model_max_length < _HUGE:
        return int(tokenizer.model_max_length)
    return 2048


def default_served_name(reference: str) -> str:
    """`model` name of the base: the job name, the folder name, or the model id as typed."""
    path = Path(reference).expanduser()
    if path.exists():
        path = path.resolve()
        return path.parent.name if path.name == "model" else path.name
    return reference


def check_adapter_names(base_name: str, adapters: Mapping[str, Path]) -> None:
    for name in adapters:
        if name in (base_name, BASE_ADAPTER) or not name.strip():
            raise UserError(f"--adapter {name}=...: the name must differ from the base model's name '{base_name}'.")


def attach_adapter(model: Any, name: str, adapter_dir: Path, *, first: bool) -> Any:
    from peft import PeftModel

    base_path = json.loads((adapter_dir / "adapter_config.json").read_text()).get("base_model_name_or_path")
    log.info("adapter %s from %s (trained on %s)", name, adapter_dir, base_path)
    if first:
        return PeftModel.from_pretrained(model, adapter_dir, adapter_name=name, is_trainable=False)
    model.load_adapter(adapter_dir, adapter_name=name, is_trainable=False)
    return model


def served_model(
    name: str, adapter: str | None, path: Path, fmt: PromptFormat, tokenizer: Any, model: Any
) -> ServedModel:
    ids = set(fmt.eos_token_ids)
    configured = model.generation_config.eos_token_id
    ids.update(configured if isinstance(configured, list) else [configured] if configured is not None else [])
    if tokenizer.eos_token_id is not None:
        ids.add(tokenizer.eos_token_id)
    chat_ids = set(ids)
    if fmt.chat_template or tokenizer.chat_template:
        chat_ids.update(end_of_turn_ids(tokenizer, fmt.chat_template))
    return ServedModel(name, adapter, path, fmt, frozenset(ids), frozenset(chat_ids))


def render_chat(tokenizer: Any, fmt: PromptFormat, messages: list[dict[str, str]]) -> tuple[str, bool]:
    """(model input, whether it already holds special tokens): the format the model was trained on.

    Instruction-tuned models see the last user message in their training template; chat and base models
    with a chat template see the whole conversation through it; others a plain transcript."""
    if fmt.mode == "instruction" and fmt.prompt_template is not None:
        last_user = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
        return fmt.render(tokenizer, last_user), False
    if fmt.chat_template or tokenizer.chat_template:
        text = tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=True, chat_template=fmt.chat_template
        )
        return text, True
    lines = [f"{m['role'].capitalize()}: {m['content']}" for m in messages]
    return "\n".join([*lines, "Assistant:"]), False
