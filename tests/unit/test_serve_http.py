"""The HTTP endpoint on a tiny random model, over real loopback HTTP: API key on every route but /health,
limits answered with 4xx JSON errors (and the server keeps serving), the wire formats, SSE streaming."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import httpx
import pytest

from fmtune.serve.engine import Engine
from fmtune.serve.server import ServerThread

from ..serve_support import (
    API_KEY,
    batched,
    build_tiny_llama,
    build_tiny_t5,
    finished,
    make_lora_adapter,
    raw_post,
    requests_answered,
    settings,
    wait_until,
)

CONTEXT = 128  # the tiny model's max_position_embeddings
CAP = 64
MAX_BODY = 4096
AUTH = {"Authorization": f"Bearer {API_KEY}"}
ROUTES = [("POST", "/invocations"), ("POST", "/v1/completions"), ("POST", "/v1/chat/completions"),
          ("GET", "/v1/models"), ("GET", "/metrics"), ("GET", "/openapi.json"), ("GET", "/no-such-route")]


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory, embedded_model_dir) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("tiny") / "llama", embedded_model_dir, context=CONTEXT)


@pytest.fixture(scope="module")
def server(tiny_dir, tmp_path_factory):
    adapter = make_lora_adapter(tiny_dir, tmp_path_factory.mktemp("adapters") / "alpha", seed=1, scale=4.0)
    engine = Engine.load(str(tiny_dir), {"alpha": str(adapter)},
                         settings(max_new_tokens_cap=CAP, max_body_bytes=MAX_BODY, default_max_new_tokens=8))
    with ServerThread(engine) as running:
        yield running
    engine.close()


@pytest.fixture
def http(server):
    with httpx.Client(base_url=server.url, headers=AUTH, trust_env=False, timeout=60) as client:
        yield client


def complete(http: httpx.Client, prompt: str = "Hello", **fields) -> httpx.Response:
    return http.post("/v1/completions", json={"model": "llama", "prompt": prompt, "max_tokens": 6,
                                              "temperature": 0, **fields})


def error_of(response: httpx.Response) -> str:
    body = response.json()
    assert set(body["error"]) >= {"message", "type", "code"}, body
    return body["error"]["message"]


# --- auth -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), ROUTES)
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"X-Api-Key": "wrong"},
                                     {"Authorization": API_KEY}])
def test_every_route_but_health_needs_the_key(server, method, path, headers):
    response = httpx.request(method, server.url + path, headers=headers, json={}, trust_env=False)
    assert response.status_code == 401
    assert "API key" in error_of(response)
    assert response.headers["www-authenticate"] == "Bearer"


def test_health_is_open_and_says_nothing_about_the_model(server):
    response = httpx.get(server.url + "/health", trust_env=False)
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_the_key_works_as_bearer_token_or_x_api_key(server):
    for headers in (AUTH, {"X-Api-Key": API_KEY}):
        response = httpx.get(server.url + "/v1/models", headers=headers, trust_env=False)
        assert response.status_code == 200
        assert [m["id"] for m in response.json()["data"]] == ["llama", "alpha"]


# --- limits and bad requests: 4xx with a message, and the server keeps serving ------------------------------


def test_oversized_body_is_413_with_or_without_content_length(http):
    big = {"model": "llama", "prompt": "x" * (MAX_BODY + 10), "max_tokens": 1}
    response = http.post("/v1/completions", json=big)
    assert response.status_code == 413 and f"limit of {MAX_BODY} bytes" in error_of(response)

    def chunks():
        payload = json.dumps(big).encode()
        for start in range(0, len(payload), 1000):
            yield payload[start:start + 1000]

    response = http.post("/v1/completions", content=chunks(), headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert complete(http).status_code == 200


@pytest.mark.parametrize(
    ("path", "content", "status", "expected"),
    [
        ("/v1/completions", b'{"prompt": "hi", ', 400, "not valid JSON"),
        ("/v1/chat/completions", b"\xff\xfe", 400, "not valid JSON"),
        ("/invocations", b"[1, 2]", 422, "JumpStart payload"),
        ("/invocations", b'{"input": "typo"}', 422, "JumpStart payload"),
        ("/v1/completions", b'{"prompt": "hi", "temperature": 7, "n": 0}', 422, "temperature:"),
        ("/v1/chat/completions", b'{"messages": [{"role": "robot", "content": "x"}]}', 422, "messages.0.role"),
        ("/v1/completions", b'{"prompt": "hi", "model": "nope"}', 404, "model 'nope' is not served here"),
        ("/v1/completions", b'{"prompt": "hi", "logprobs": 2}', 400, "logprobs are not supported"),
        ("/invocations", b'{"inputs": "hi", "parameters": {"max_new_tokens": 0}}', 422,
         "parameters.max_new_tokens"),
    ],
)
def test_bad_requests_get_a_4xx_with_a_message(http, path, content, status, expected):
    response = http.post(path, content=content, headers={"Content-Type": "application/json"})
    assert response.status_code == status, response.text
    assert expected in error_of(response)
    assert complete(http).status_code == 200  # still serving


def test_token_limits(http):
    response = complete(http, max_tokens=CAP + 1)
    assert response.status_code == 400 and f"cap of {CAP}" in error_of(response)
    long_prompt = " word" * (CONTEXT + 5)
    response = complete(http, long_prompt)
    assert response.status_code == 400 and f"context of {CONTEXT} tokens" in error_of(response)
    assert response.json()["error"]["code"] == "context_length_exceeded"
    fits = " word" * (CONTEXT - 10)  # fits alone, but not with 20 new tokens
    response = complete(http, fits, max_tokens=20)
    assert response.status_code == 400 and "ask for at most" in error_of(response)
    response = http.post("/invocations", json={"inputs": long_prompt})
    assert response.status_code == 400
    response = http.post("/invocations", json={"inputs": "hi", "parameters": {"max_new_tokens": CAP + 1}})
    assert response.status_code == 400 and "parameters.max_new_tokens" in error_of(response)
    assert complete(http).status_code == 200


def test_rejections_are_counted_in_metrics(http):
    http.post("/v1/completions", content=b"{", headers={"Content-Type": "application/json"})
    text = http.get("/metrics").text
    assert 'fmtune_rejected_requests_total{reason="invalid_json"}' in text
    assert 'fmtune_requests_total{route="/v1/completions",status="400"}' in text
    assert "fmtune_request_duration_seconds_bucket" in text and "fmtune_generation_tokens_total" in text


def test_too_many_concurrent_requests_get_429_then_service_resumes(tiny_dir):
    engine = Engine.load(str(tiny_dir), None, settings(max_batch_size=1, max_queue=0, batch_wait_ms=0.0))
    try:
        with ServerThread(engine) as server, httpx.Client(base_url=server.url, headers=AUTH, trust_env=False,
                                                         timeout=60) as http:
            body = {"prompt": "Hello", "max_tokens": CAP, "temperature": 0, "stream": True}
            with contextlib.ExitStack() as open_stream:
                with engine.held():  # admitted but not generating: it keeps the only slot however fast it would be
                    stream = open_stream.enter_context(http.stream("POST", "/v1/completions", json=body))
                    assert stream.status_code == 200
                    refused = complete(http)
                    assert refused.status_code == 429 and "limit of 1 concurrent requests" in error_of(refused)
                next(stream.iter_lines())  # the first chunk: the request is being generated
            # the client went away mid-stream: its slot is released
            wait_until(lambda: engine.inflight == 0, "the abandoned stream to free its slot")
            assert complete(http).status_code == 200
    finally:
        engine.close()


def test_a_client_that_leaves_cancels_its_plain_request(server, http):
    """A non-streaming request whose client went away kept generating; now it is cancelled and frees its slot."""
    engine = server.engine
    body = {"model": "llama", "prompt": "Hello", "max_tokens": CAP, "temperature": 0}
    cancelled, closed = finished(engine, "llama", "cancelled"), requests_answered(engine, "/v1/completions", 499)
    admitted = engine.admitted
    with engine.held():  # the request waits, so the client surely leaves before it could end on its own
        with raw_post(server.url, "/v1/completions", body):
            wait_until(lambda: engine.admitted == admitted + 1, "the request to be queued")
        wait_until(lambda: requests_answered(engine, "/v1/completions", 499) == closed + 1,
                   "the server to notice that the client left")
    wait_until(lambda: finished(engine, "llama", "cancelled") == cancelled + 1, "the request to be cancelled")
    assert engine.inflight == 0
    assert complete(http).status_code == 200


def test_a_tiny_temperature_does_not_fail_the_requests_batched_with_it(server, http):
    """temperature=1e-300 (or 1e-40 in chat) among three normal requests made all four answer 500."""
    chat_body = {"model": "llama", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 5}
    calls = [
        lambda: complete(http, "Hello", max_tokens=5, temperature=1e-300),
        lambda: http.post("/v1/chat/completions", json={**chat_body, "temperature": 1e-40}),
        lambda: complete(http, "The capital of France is", max_tokens=5, temperature=0.9, seed=1),
        lambda: http.post("/invocations", json={"inputs": "Bye", "parameters": {"max_new_tokens": 5}}),
    ]
    generate_calls = server.engine.generate_calls
    responses = batched(server.engine, calls)
    assert server.engine.generate_calls == generate_calls + 1  # they did share one batch
    assert [r.status_code for r in responses] == [200] * 4, [r.text for r in responses]
    assert responses[0].json()["choices"][0]["text"] == complete(http, "Hello", max_tokens=5).json()["choices"][0][
        "text"]  # as cold as that is greedy


@pytest.mark.parametrize(("field", "value"), [("temperature", 1e308), ("temperature", -0.5), ("top_p", 0),
                                              ("top_p", 2), ("top_k", 0), ("max_new_tokens", 0)])
def test_invocations_check_sampling_fields_as_v1_does(http, field, value):
    openai_field = "max_tokens" if field == "max_new_tokens" else field
    for path, body, where in (
        ("/invocations", {"inputs": "hi", "parameters": {field: value}}, f"parameters.{field}"),
        ("/invocations", {"text_inputs": "hi", field: value}, field),
        ("/v1/completions", {"prompt": "hi", openai_field: value}, openai_field),
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": "hi"}], openai_field: value},
         openai_field),
    ):
        response = http.post(path, json=body)
        assert response.status_code == 422, (path, response.text)
        message = error_of(response)
        assert f"{where}: Input should be" in message and f"(got {json.dumps(value)})" in message, message


@pytest.mark.parametrize("path", ["/invocations", "/v1/completions", "/v1/chat/completions"])
def test_deeply_nested_json_is_a_400(http, path):
    response = http.post(path, content=b"[" * (MAX_BODY - 10), headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and "at most 64 levels" in error_of(response)  # was a RecursionError (500)
    nested = b'{"prompt": "hi", "inputs": "hi", "extra": ' + b"[" * 70 + b"]" * 70 + b"}"
    response = http.post(path, content=nested, headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and "71 levels deep" in error_of(response)
    assert complete(http).status_code == 200


# --- wire formats ---------------------------------------------------------------------------------------


def sse_events(response: httpx.Response) -> list[dict | str]:
    events = []
    for line in response.iter_lines():
        if line.startswith("data: "):
            data = line[len("data: "):]
            events.append(data if data == "[DONE]" else json.loads(data))
    return events


def test_streamed_completion_adds_up_to_the_plain_one(http):
    plain = complete(http, "The capital of France is", max_tokens=10).json()
    body = {"model": "llama", "prompt": "The capital of France is", "max_tokens": 10, "temperature": 0,
            "stream": True, "stream_options": {"include_usage": True}}
    with http.stream("POST", "/v1/completions", json=body) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = sse_events(response)
    assert events[-1] == "[DONE]"
    chunks = [e for e in events[:-1] if e["choices"]]
    assert len(chunks) >= 3  # token by token, not one blob
    assert "".join(c["choices"][0]["text"] for c in chunks) == plain["choices"][0]["text"]
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"
    assert events[-2]["usage"] == plain["usage"]


def test_completion_usage_stop_echo_and_n(http):
    plain = complete(http, "Hello", max_tokens=8).json()
    text = plain["choices"][0]["text"]
    assert plain["object"] == "text_completion" and plain["usage"]["completion_tokens"] == 8
    stop = text[len(text) // 2:][:3]
    cut = complete(http, "Hello", max_tokens=8, stop=[stop]).json()["choices"][0]
    assert cut["text"] == text[:text.index(stop)] and cut["finish_reason"] == "stop"
    assert complete(http, "Hello", max_tokens=8, echo=True).json()["choices"][0]["text"] == "Hello" + text
    many = complete(http, ["Hello", "Bye"], max_tokens=3, n=2, temperature=1.0, seed=3).json()
    assert [c["index"] for c in many["choices"]] == [0, 1, 2, 3]
    assert many["usage"]["completion_tokens"] == 12


def test_model_field_picks_the_adapter(http):
    base = complete(http, "Hello", max_tokens=6).json()["choices"][0]["text"]
    adapted = complete(http, "Hello", max_tokens=6, model="alpha").json()
    assert adapted["model"] == "alpha" and adapted["choices"][0]["text"] != base


def test_jumpstart_text_generation_payload(http):
    expected = complete(http, "Hello", max_tokens=5).json()["choices"][0]["text"]
    response = http.post("/invocations", json={"inputs": "Hello", "parameters": {"max_new_tokens": 5}})
    assert response.status_code == 200 and response.json() == [{"generated_text": expected}]
    full = http.post("/invocations", json={"inputs": "Hello", "parameters": {"max_new_tokens": 5,
                                                                              "return_full_text": True}})
    assert full.json() == [{"generated_text": "Hello" + expected}]
    several = http.post("/invocations", json={"inputs": ["Hello", "Bye"], "parameters": {"max_new_tokens": 2}})
    assert len(several.json()) == 2 and all("generated_text" in item for item in several.json())
    sampled = http.post("/invocations", json={"inputs": "Hello", "parameters": {
        "max_new_tokens": 5, "temperature": 0.8, "top_p": 0.9, "seed": 1}})
    assert sampled.status_code == 200


def test_chat_completion_and_its_stream(http):
    body = {"model": "llama", "messages": [{"role": "system", "content": "Be brief."},
                                           {"role": "user", "content": [{"type": "text", "text": "Hi"}]}],
            "max_tokens": 6, "temperature": 0}
    plain = http.post("/v1/chat/completions", json=body).json()
    assert plain["object"] == "chat.completion"
    message = plain["choices"][0]["message"]
    assert message["role"] == "assistant"
    assert plain["usage"]["prompt_tokens"] > 10  # the chat template wraps the messages
    with http.stream("POST", "/v1/chat/completions", json={**body, "stream": True}) as response:
        events = sse_events(response)
    assert events[-1] == "[DONE]" and events[0]["choices"][0]["delta"]["role"] == "assistant"
    streamed = "".join(e["choices"][0]["delta"].get("content", "") for e in events[:-1])
    assert streamed == message["content"]


def test_flan_t5_payload_on_a_text2text_model(tmp_path, embedded_model_dir):
    t5_dir = build_tiny_t5(tmp_path / "t5", embedded_model_dir)
    engine = Engine.load(str(t5_dir), None, settings())
    try:
        with ServerThread(engine) as server, httpx.Client(base_url=server.url, headers=AUTH,
                                                         trust_env=False, timeout=60) as http:
            response = http.post("/invocations", json={"text_inputs": "Translate to German: hello",
                                                       "max_length": 4, "num_return_sequences": 2,
                                                       "do_sample": True, "top_p": 0.9, "seed": 1})
            assert response.status_code == 200, response.text
            texts = response.json()["generated_texts"]
            assert len(texts) == 2 and all(isinstance(t, str) for t in texts)
            generated = engine.metrics.counter_value("fmtune_generation_tokens_total", model="t5")
            assert 0 < generated <= 2 * 4  # max_length is the number of new tokens per sequence
            both = http.post("/invocations", json={"text_inputs": ["a b c", "d e f"], "max_length": 3})
            assert len(both.json()["generated_texts"]) == 2
    finally:
        engine.close()


def test_flan_t5_num_beams_is_beam_search(tmp_path, embedded_model_dir):
    """num_beams > 1 answers with the best beams, as transformers' own beam search finds them."""
    import torch

    t5_dir = build_tiny_t5(tmp_path / "t5", embedded_model_dir)
    engine = Engine.load(str(t5_dir), None, settings())
    try:
        prompt = "Translate to German: the house is wonderful"
        ids = torch.tensor([engine.tokenizer(prompt)["input_ids"]])
        with torch.no_grad():
            expected = engine.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), num_beams=4,
                                             num_return_sequences=3, max_new_tokens=6, do_sample=False,
                                             early_stopping=True)
        expected_texts = [engine.tokenizer.decode(seq, skip_special_tokens=True) for seq in expected]
        assert len(set(expected_texts)) == 3  # distinct beams: sampling three times greedily would not give them
        with ServerThread(engine) as server, httpx.Client(base_url=server.url, headers=AUTH,
                                                         trust_env=False, timeout=60) as http:
            payload = {"text_inputs": prompt, "max_length": 6, "num_return_sequences": 3, "num_beams": 4}
            response = http.post("/invocations", json=payload)
            assert response.status_code == 200, response.text
            assert response.json()["generated_texts"] == expected_texts
            for bad, param in (({"do_sample": True}, "num_beams"),
                               ({"num_return_sequences": 5}, "num_return_sequences")):
                refused = http.post("/invocations", json={**payload, **bad})
                assert refused.status_code == 422 and param in refused.text, refused.text
    finally:
        engine.close()


def test_a_chat_template_that_refuses_the_messages_is_a_400(server, http, monkeypatch):
    """Templates such as Llama 2's raise on roles that do not alternate: that is the client's error, not a 500."""
    refusing = "{% if messages|length > 1 %}{{ raise_exception('roles must alternate') }}{% endif %}{{ 'x' }}"
    monkeypatch.setattr(server.engine.tokenizer, "chat_template", refusing)
    assert server.engine.base.prompt_format.chat_template is None  # the tokenizer's template applies
    twice = [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]
    response = http.post("/v1/chat/completions", json={"model": "llama", "messages": twice, "max_tokens": 2})
    assert response.status_code == 400 and "roles must alternate" in error_of(response)
