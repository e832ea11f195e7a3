"""The engine on tiny random models: requests that arrive together run in one batched `generate`, give the
same text as alone, end row by row, route each row to its own adapter, fail one by one, and the queue has a
limit. Requests are batched by holding the engine while they are submitted, never by timing."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from fmtune.serve.decoding import Event, SamplingParams
from fmtune.serve.engine import Engine, GenerationJob, Overloaded, RequestHandle

from ..serve_support import WAIT_S, build_tiny_llama, build_tiny_t5, finished, make_lora_adapter, settings

PROMPTS = ["Hello", "The capital of France is", "def fibonacci(n):\n    return", "one two three four five six"]


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory, embedded_model_dir) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("tiny") / "llama", embedded_model_dir)


@pytest.fixture(scope="module")
def adapters(tmp_path_factory, tiny_dir) -> dict[str, str]:
    root = tmp_path_factory.mktemp("adapters")
    return {name: str(make_lora_adapter(tiny_dir, root / name, seed, scale=4.0))
            for name, seed in (("alpha", 1), ("beta", 2))}


@pytest.fixture(scope="module")
def engine(tiny_dir, adapters):
    engine = Engine.load(str(tiny_dir), adapters, settings(batch_wait_ms=0.0, max_batch_size=8))
    yield engine
    engine.close()


def job(engine: Engine, text: str, max_new: int = 8, *, temperature: float = 0.0, seed: int | None = None,
        model: str | None = None, stop_ids: frozenset[int] | None = None) -> GenerationJob:
    served = engine.served(model)
    assert served is not None
    ids = engine.tokenizer(text)["input_ids"]
    return GenerationJob(ids, SamplingParams(max_new, temperature, 1.0, seed), served,
                         served.stop_token_ids if stop_ids is None else stop_ids)


async def result(handle: RequestHandle) -> tuple[str, Event]:
    return await asyncio.wait_for(handle.result(), WAIT_S)


def together(engine: Engine, jobs: list[GenerationJob]) -> list[tuple[str, Event]]:
    """Submitted as separate requests while the engine is held, so they share one batch (up to its size)."""

    async def run() -> list[tuple[str, Event]]:
        with engine.held():
            handles = [engine.submit([j])[0] for j in jobs]
        return await asyncio.gather(*(result(h) for h in handles))

    return asyncio.run(run())


def alone(engine: Engine, jobs: list[GenerationJob]) -> list[tuple[str, Event]]:
    return [together(engine, [j])[0] for j in jobs]


def texts(results: list[tuple[str, Event]]) -> list[str]:
    return [text for text, _ in results]


def test_requests_arriving_together_run_in_one_batched_generate_call(engine):
    jobs = [job(engine, p) for p in PROMPTS]
    calls = engine.generate_calls
    batched = together(engine, jobs)
    assert engine.generate_calls == calls + 1  # one `generate` for all four
    single = alone(engine, jobs)
    assert engine.generate_calls == calls + 1 + len(jobs)
    assert texts(batched) == texts(single)  # left padding changes nothing
    assert all(final.completion_tokens == 8 and final.finish_reason == "length" for _, final in batched)
    assert [final.prompt_tokens for _, final in batched] == [len(j.input_ids) for j in jobs]
    assert 'fmtune_batch_size_bucket{le="4.0"}' in engine.metrics.render()


def test_rows_of_one_batch_end_on_their_own_limits_and_stop_tokens(engine):
    def sampled(max_new: int, stop_ids: frozenset[int] | None = None) -> GenerationJob:
        return job(engine, PROMPTS[1], max_new, temperature=1.0, seed=5, stop_ids=stop_ids)

    tokens = together(engine, [sampled(6)])[0][1].token_ids
    k = next(i for i in range(1, 6) if tokens[i] not in tokens[:i])  # a token that first appears at step k
    calls = engine.generate_calls
    results = together(engine, [sampled(2), sampled(6), sampled(6, frozenset({tokens[k]}))])
    assert engine.generate_calls == calls + 1
    (short_text, short_end), (long_text, long_end), (stop_text, stop_end) = results
    assert (short_end.completion_tokens, short_end.finish_reason) == (2, "length")
    assert (long_end.completion_tokens, long_end.finish_reason) == (6, "length")
    assert (stop_end.completion_tokens, stop_end.finish_reason) == (k, "stop")
    assert long_end.token_ids == tokens and stop_end.token_ids == tokens[:k]
    assert long_text.startswith(short_text) and long_text.startswith(stop_text)


def test_one_batch_routes_each_row_through_its_own_adapter(engine):
    prompt = PROMPTS[1]
    mixed = [job(engine, prompt, model=name) for name in (None, "alpha", "beta", "alpha")]
    calls = engine.generate_calls
    batched = texts(together(engine, mixed))
    assert engine.generate_calls == calls + 1
    base, alpha, beta, alpha_again = batched
    assert len({base, alpha, beta}) == 3, batched  # the adapters change the answer
    assert alpha == alpha_again
    assert batched == texts(alone(engine, mixed))  # and each row got its own adapter in the mixed batch


def test_seeded_sampling_repeats_whatever_else_is_in_the_batch(engine):
    seeded = job(engine, PROMPTS[0], 8, temperature=1.0, seed=1234)
    first = together(engine, [seeded])[0][0]
    others = [job(engine, PROMPTS[2], 8, temperature=0.7), job(engine, PROMPTS[3], 8)]
    second = together(engine, [others[0], seeded, others[1]])[1][0]
    assert first == second
    different = {together(engine, [job(engine, PROMPTS[0], 8, temperature=1.0, seed=s)])[0][0] for s in range(3)}
    assert len(different) > 1


def test_queue_limit_refuses_beyond_batch_plus_queue_and_frees_slots(tiny_dir):
    engine = Engine.load(str(tiny_dir), None, settings(max_batch_size=1, max_queue=1, batch_wait_ms=0.0))
    try:
        async def run() -> None:
            endless = job(engine, PROMPTS[0], 1_000_000, stop_ids=frozenset())  # ends only when cancelled
            first = engine.submit([endless])[0]
            second = engine.submit([job(engine, PROMPTS[1], 2)])[0]
            with pytest.raises(Overloaded, match="limit of 2 concurrent requests"):
                engine.submit([job(engine, PROMPTS[2], 2)])
            with pytest.raises(Overloaded):  # all of a request's jobs, or none
                engine.submit([job(engine, PROMPTS[2], 2)] * 3)
            async for event in first.events():  # stop listening after the first text: the request is cancelled
                if event.text:
                    break
            _, ended = await result(second)
            assert ended.finish_reason == "length"
            third = engine.submit([job(engine, PROMPTS[3], 2)])[0]  # slots are free again
            assert (await result(third))[1].completion_tokens == 2

        asyncio.run(run())
        assert finished(engine, "llama", "cancelled") == 1
    finally:
        engine.close()


def test_a_failing_batch_reports_errors_and_the_engine_keeps_serving(engine, monkeypatch):
    original = engine.model.generate
    calls = []

    def broken(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("simulated device failure")
        return original(*args, **kwargs)

    monkeypatch.setattr(engine.model, "generate", broken)
    (_, failed), = together(engine, [job(engine, PROMPTS[0], 3)])
    assert failed.finish_reason == "error" and "simulated device failure" in failed.error
    (text, ok), = together(engine, [job(engine, PROMPTS[0], 3)])
    assert ok.error is None and ok.completion_tokens == 3


def test_a_tiny_temperature_decodes_greedily_and_fails_nobody(engine):
    """temperature=1e-300 used to overflow to inf/nan in sampling and fail every request of its batch."""
    greedy = job(engine, PROMPTS[1], 6)
    cold = [job(engine, PROMPTS[1], 6, temperature=t, seed=1) for t in (1e-300, 1e-40, 1e-6)]
    others = [job(engine, PROMPTS[0], 6, temperature=1.0, seed=2), job(engine, PROMPTS[2], 6)]
    calls = engine.generate_calls
    results = together(engine, [greedy, *cold, *others])
    assert engine.generate_calls == calls + 1
    assert all(final.error is None for _, final in results), results
    assert texts(results[:4]) == [results[0][0]] * 4  # colder than 1e-5 is greedy
    assert texts(results[4:]) == texts(alone(engine, others))


def test_a_row_whose_sampling_fails_fails_alone(engine, monkeypatch):
    from fmtune.serve import decoding

    real_sample = decoding.sample

    def sample(logits, params, generator):
        if params.seed == 666:
            raise RuntimeError("simulated sampling failure")
        return real_sample(logits, params, generator)

    monkeypatch.setattr(decoding, "sample", sample)
    healthy = [job(engine, PROMPTS[0], 5, temperature=0.8, seed=1), job(engine, PROMPTS[2], 5)]
    doomed = job(engine, PROMPTS[1], 5, temperature=0.8, seed=666)
    calls = engine.generate_calls
    first, (_, failed), second = together(engine, [healthy[0], doomed, healthy[1]])
    assert engine.generate_calls == calls + 1
    assert failed.finish_reason == "error" and "simulated sampling failure" in failed.error
    assert [first, second] == alone(engine, healthy)


def test_a_batch_that_fails_gives_each_request_a_batch_of_its_own(engine, monkeypatch):
    """A failure of the whole `generate` (e.g. caused by one input) is not charged to the rows batched with it."""
    poison = job(engine, "poison pill", 4)
    original = engine.model.generate

    def generate(*args, input_ids, **kwargs):
        if any(row[-len(poison.input_ids):].tolist() == poison.input_ids for row in input_ids):
            raise RuntimeError("simulated failure caused by one input")
        return original(*args, input_ids=input_ids, **kwargs)

    monkeypatch.setattr(engine.model, "generate", generate)
    healthy = [job(engine, PROMPTS[0], 4), job(engine, PROMPTS[3], 4, temperature=1.0, seed=9)]
    first, (_, failed), second = together(engine, [healthy[0], poison, healthy[1]])
    assert failed.finish_reason == "error" and "caused by one input" in failed.error
    assert first[1].error is None and second[1].error is None
    assert [first, second] == alone(engine, healthy)
    assert engine.inflight == 0


def test_held_engine_batches_whatever_the_timing(engine):
    """Submitted while held, generated together once released: tests batch deterministically this way."""
    async def run() -> None:
        with engine.held():
            handles = [engine.submit([job(engine, p, 2)])[0] for p in PROMPTS]
            await asyncio.sleep(0.05)  # a generous window, in which a free engine would have started a batch
            assert engine.running == 0 and engine.inflight == len(PROMPTS)
        await asyncio.gather(*(result(h) for h in handles))

    calls = engine.generate_calls
    asyncio.run(run())
    assert engine.generate_calls == calls + 1


def test_text2text_model_generates_in_batches(tmp_path, embedded_model_dir):
    t5_dir = build_tiny_t5(tmp_path / "t5", embedded_model_dir)
    engine = Engine.load(str(t5_dir), None, settings())
    try:
        assert engine.is_seq2seq
        jobs = [job(engine, p, 5) for p in PROMPTS[:3]]
        calls = engine.generate_calls
        batched = together(engine, jobs)
        assert engine.generate_calls == calls + 1
        assert texts(batched) == texts(alone(engine, jobs))
        assert all(0 < final.completion_tokens <= 5 for _, final in batched)
    finally:
        engine.close()


def test_moe_model_saved_with_router_logits_still_batches(tmp_path, embedded_model_dir):
    """Tuned Mixtral configs keep output_router_logits=True; its aux loss must not run on padded batches."""
    import torch
    from transformers import AutoTokenizer, MixtralConfig, MixtralForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(embedded_model_dir)
    torch.manual_seed(0)
    config = MixtralConfig(vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                           num_attention_heads=2, num_key_value_heads=1, num_local_experts=2, num_experts_per_tok=1,
                           max_position_embeddings=64, output_router_logits=True,
                           pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
    MixtralForCausalLM(config).save_pretrained(tmp_path / "moe", safe_serialization=True)
    tokenizer.save_pretrained(tmp_path / "moe")
    engine = Engine.load(str(tmp_path / "moe"), None, settings())
    try:
        jobs = [job(engine, p, 3) for p in PROMPTS[:3]]
        batched = together(engine, jobs)
        assert all(final.error is None for _, final in batched), batched
        assert texts(batched) == texts(alone(engine, jobs))
    finally:
        engine.close()


def test_a_job_folder_deploys_its_model_and_serves_its_adapter_with_its_prompt_format(tmp_path, tiny_dir):
    """`fmtune deploy JOB --adapter tuned=JOB`: model/ is the base, adapter/ an adapter, each with its format."""
    import shutil

    from fmtune.data.prompting import PromptFormat
    from fmtune.serve.engine import render_chat

    job_dir = tmp_path / "my-job"
    shutil.copytree(tiny_dir, job_dir / "model")
    make_lora_adapter(tiny_dir, job_dir / "adapter", seed=3)
    instruction = PromptFormat(mode="instruction", prompt_template="Question: {question}", eos_token_ids=[2])
    instruction.save(job_dir / "adapter")
    engine = Engine.load(str(job_dir), {"tuned": str(job_dir)}, settings())
    try:
        assert engine.model_names() == ["my-job", "tuned"]
        tuned = engine.served("tuned")
        assert tuned.prompt_format == instruction and tuned.path == job_dir / "adapter"
        text, templated = render_chat(engine.tokenizer, tuned.prompt_format,
                                      [{"role": "system", "content": "ignored"}, {"role": "user", "content": "Why?"}])
        assert (text, templated) == ("Question: Why?\n\n### Response:\n", False)
        base_text, base_templated = render_chat(engine.tokenizer, engine.base.prompt_format,
                                                [{"role": "user", "content": "Why?"}])
        assert base_templated and "<|im_start|>user\nWhy?<|im_end|>" in base_text
        assert engine.tokenizer.convert_tokens_to_ids("<|im_end|>") in engine.base.chat_stop_token_ids
    finally:
        engine.close()


def test_adapters_must_be_safetensors_and_names_distinct(tmp_path, tiny_dir, adapters):
    import shutil

    from fmtune.errors import UserError

    pickled = tmp_path / "pickled"
    shutil.copytree(adapters["alpha"], pickled)
    (pickled / "adapter_model.safetensors").rename(pickled / "adapter_model.bin")
    with pytest.raises(UserError, match=r"holds only pickled weights \(adapter_model.bin\)"):
        Engine.load(str(tiny_dir), {"x": str(pickled)}, settings())
    with pytest.raises(UserError, match="must differ from the base model's name"):
        Engine.load(str(tiny_dir), {"llama": adapters["alpha"]}, settings())
    with pytest.raises(UserError, match="neither a folder with adapter_config.json"):
        Engine.load(str(tiny_dir), {"x": str(tmp_path / "missing")}, settings())
