"""The endpoint on the embedded SmolLM2-135M with two LoRA adapters, driven by the real `openai` client
(streaming and not) and plain HTTP for JumpStart's /invocations."""

from __future__ import annotations

from pathlib import Path

import httpx
import openai
import pytest

from fmtune.catalog import DEFAULT_MODEL_ID
from fmtune.serve.engine import Engine
from fmtune.serve.server import ServerThread

from ..serve_support import API_KEY, batched, finished, make_lora_adapter, raw_post, settings, wait_until

pytestmark = pytest.mark.slow
QUESTION = "What is the capital of France?"


@pytest.fixture(scope="module")
def adapters(tmp_path_factory, embedded_model_dir) -> dict[str, str]:
    root = tmp_path_factory.mktemp("adapters")
    return {name: str(make_lora_adapter(embedded_model_dir, root / name, seed, scale=2.0))
            for name, seed in (("alpha", 1), ("beta", 2))}


@pytest.fixture(scope="module")
def server(adapters):
    engine = Engine.load(DEFAULT_MODEL_ID, adapters, settings())
    with ServerThread(engine) as running:
        yield running
    engine.close()


@pytest.fixture
def client(server) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key=API_KEY, max_retries=0, timeout=120)


def chat(client: openai.OpenAI, model: str = DEFAULT_MODEL_ID, question: str = QUESTION, **params) -> str:
    response = client.chat.completions.create(model=model, messages=[{"role": "user", "content": question}],
                                              **{"max_tokens": 10, "temperature": 0, **params})
    return response.choices[0].message.content


def test_models_lists_the_base_and_its_adapters(client):
    assert [m.id for m in client.models.list()] == [DEFAULT_MODEL_ID, "alpha", "beta"]


def test_chat_applies_the_chat_template_as_fmtune_generate_does(client, embedded_model_dir):
    from fmtune.jobs.artifacts import load_for_generation
    from fmtune.models.generate import generate

    response = client.chat.completions.create(model=DEFAULT_MODEL_ID, max_tokens=12, temperature=0,
                                              messages=[{"role": "user", "content": QUESTION}])
    loaded = load_for_generation(str(embedded_model_dir))
    expected = generate(loaded, QUESTION, max_new_tokens=12)
    assert response.choices[0].message.content == expected
    assert "Paris" in expected  # the real model answers
    assert response.usage.prompt_tokens == len(loaded.tokenizer(
        loaded.prompt_format.render(loaded.tokenizer, QUESTION), add_special_tokens=False)["input_ids"])


def test_chat_stream_is_the_same_text_token_by_token(client):
    expected = chat(client, max_tokens=12)
    stream = client.chat.completions.create(model=DEFAULT_MODEL_ID, max_tokens=12, temperature=0, stream=True,
                                            messages=[{"role": "user", "content": QUESTION}])
    chunks = list(stream)
    deltas = [c.choices[0].delta.content or "" for c in chunks if c.choices]
    assert sum(1 for d in deltas if d) >= 3
    assert "".join(deltas) == expected
    assert chunks[-1].choices[0].finish_reason in ("stop", "length")


def test_chat_stops_at_the_end_of_the_turn(client):
    response = client.chat.completions.create(model=DEFAULT_MODEL_ID, max_tokens=60, temperature=0,
                                              messages=[{"role": "user", "content": "Say only the word: yes"}])
    choice = response.choices[0]
    assert choice.finish_reason == "stop" and response.usage.completion_tokens < 60
    assert "<|im_end|>" not in choice.message.content


def test_completions_plain_and_streamed_with_stop(client):
    prompt = "The three primary colors are"
    plain = client.completions.create(model=DEFAULT_MODEL_ID, prompt=prompt, max_tokens=8, temperature=0)
    text = plain.choices[0].text
    assert text.strip() and plain.usage.completion_tokens <= 8
    streamed = "".join(c.choices[0].text for c in client.completions.create(
        model=DEFAULT_MODEL_ID, prompt=prompt, max_tokens=8, temperature=0, stream=True) if c.choices)
    assert streamed == text
    word = text.split()[1]
    cut = client.completions.create(model=DEFAULT_MODEL_ID, prompt=prompt, max_tokens=8, temperature=0, stop=[word])
    assert cut.choices[0].text == text[:text.index(word)] and cut.choices[0].finish_reason == "stop"


def test_seed_makes_sampling_repeatable(client):
    first = chat(client, temperature=1.0, top_p=0.95, seed=42)
    assert chat(client, temperature=1.0, top_p=0.95, seed=42) == first


def test_each_adapter_answers_differently_and_concurrent_requests_share_one_batch(server, client):
    engine = server.engine
    asks = {DEFAULT_MODEL_ID: QUESTION, "alpha": "Hi!", "beta": "Name three colors of the rainbow, please."}
    calls = engine.generate_calls
    together = batched(engine, [lambda m=m, q=q: chat(client, model=m, question=q, max_tokens=8)
                                for m, q in asks.items()])
    assert engine.generate_calls == calls + 1  # three clients, one batched generate, three adapters in it
    alone = [chat(client, model=m, question=q, max_tokens=8) for m, q in asks.items()]
    assert together == alone  # prompts of different lengths: left padding and per-row adapters change nothing
    same_question = [chat(client, model=m, max_tokens=8) for m in asks]
    assert len(set(same_question)) == 3, same_question  # each adapter answers differently


def test_a_client_that_leaves_mid_generation_cancels_its_request(server, client):
    """`curl -m 4 ... "max_tokens": 600` kept generating long after curl gave up; now it stops at once."""
    engine = server.engine
    body = {"model": DEFAULT_MODEL_ID, "prompt": "Counting to a thousand: 1, 2, 3, 4, 5,", "max_tokens": 1000,
            "temperature": 0}
    cancelled = finished(engine, DEFAULT_MODEL_ID, "cancelled")
    with raw_post(server.url, "/v1/completions", body):  # a plain (not streamed) request
        wait_until(lambda: engine.running == 1, "the request to be generated")
    # the client went away mid-generation: the request ends within a token, its slot is free
    wait_until(lambda: finished(engine, DEFAULT_MODEL_ID, "cancelled") == cancelled + 1,
               "the abandoned request to be cancelled")
    wait_until(lambda: engine.running == 0 and engine.inflight == 0, "the batch to end")
    assert "Paris" in chat(client, max_tokens=12)  # and the next request is served


def test_jumpstart_invocations_over_plain_http(server):
    headers = {"Authorization": f"Bearer {API_KEY}"}
    payload = {"inputs": "Paris is the capital of", "parameters": {"max_new_tokens": 4, "do_sample": False}}
    response = httpx.post(server.url + "/invocations", json=payload, headers=headers, trust_env=False, timeout=120)
    assert response.status_code == 200
    (item,) = response.json()
    assert set(item) == {"generated_text"} and item["generated_text"].strip()
    alpha = httpx.post(server.url + "/invocations", json={**payload, "model": "alpha"}, headers=headers,
                       trust_env=False, timeout=120)
    assert alpha.status_code == 200 and alpha.json() != response.json()


def test_the_openai_client_sees_auth_and_limit_errors(server, client):
    stranger = openai.OpenAI(base_url=server.url + "/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        stranger.models.list()
    with pytest.raises(openai.BadRequestError, match="above this endpoint's cap"):
        chat(client, max_tokens=10_000)
    with pytest.raises(openai.NotFoundError, match="not served here"):
        chat(client, model="gamma")
    assert chat(client, max_tokens=2)  # still serving


def test_served_weights_are_safetensors(embedded_model_dir: Path, adapters):
    assert list(embedded_model_dir.glob("*.safetensors")) and not list(embedded_model_dir.glob("*.bin"))
    assert all((Path(p) / "adapter_model.safetensors").exists() for p in adapters.values())
