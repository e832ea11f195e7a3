"""/invocations as JumpStart's endpoints answer it: payloads as sent, plain-text bodies, the family's response
shape (shared/reference/jumpstart.md, "Inference payloads"), the Messages API when deployed with it, and
custom_attributes="accept_eula=false" refused for a model with an EULA."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import httpx
import pytest

from fmtune.serve.engine import Engine
from fmtune.serve.server import ServerThread

from ..serve_support import API_KEY, build_tiny_llama, settings

AUTH = {"Authorization": f"Bearer {API_KEY}"}
LLAMA_2_CHAT = "meta-textgeneration-llama-2-7b-f"
EULA_HEADER = "X-Amzn-SageMaker-Custom-Attributes"


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory, embedded_model_dir) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("tiny") / "llama", embedded_model_dir, context=256)


def serve(folder: Path, **overrides):
    engine = Engine.load(str(folder), None, settings(default_max_new_tokens=4, **overrides))
    return engine, ServerThread(engine)


@pytest.fixture(scope="module")
def plain(tiny_dir):
    engine, thread = serve(tiny_dir)
    with thread as running, httpx.Client(base_url=running.url, headers=AUTH, trust_env=False, timeout=60) as client:
        yield client
    engine.close()


@pytest.fixture(scope="module")
def llama_2_chat(tiny_dir, tmp_path_factory):
    """The tiny model as fmtune's tiny-random build of Llama 2 Chat records itself, deployed with the Messages
    API on (JumpStart's MESSAGES_API_ENABLED=true)."""
    folder = tmp_path_factory.mktemp("llama2") / "model"
    shutil.copytree(tiny_dir, folder)
    (folder / "fmtune_source.json").write_text(json.dumps({"kind": "tiny-random", "model_id": LLAMA_2_CHAT}))
    engine, thread = serve(folder, messages_api=True)
    with thread as running, httpx.Client(base_url=running.url, headers=AUTH, trust_env=False, timeout=60) as client:
        yield client
    engine.close()


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-text", "text/plain; charset=utf-8"])
def test_a_plain_text_body_is_the_prompt(plain, content_type):
    as_json = plain.post("/invocations", json={"inputs": "Hello", "parameters": {"max_new_tokens": 4}}).json()
    response = plain.post("/invocations", content=b"Hello", headers={"Content-Type": content_type})
    assert response.status_code == 200, response.text
    assert response.json() == as_json  # the same default-length greedy answer


def test_an_unknown_content_type_is_a_415_naming_what_is_taken(plain):
    response = plain.post("/invocations", content=b"a,b", headers={"Content-Type": "text/csv"})
    assert response.status_code == 415
    message = response.json()["error"]["message"]
    assert "'text/csv'" in message and "application/json" in message and "text/plain" in message


def test_text_that_is_not_utf8_is_a_400(plain):
    response = plain.post("/invocations", content=b"\xff\xfe", headers={"Content-Type": "text/plain"})
    assert response.status_code == 400 and "UTF-8" in response.json()["error"]["message"]


def test_messages_without_the_messages_api_say_how_to_turn_it_on(plain):
    response = plain.post("/invocations", json={"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4})
    assert response.status_code == 422
    assert "MESSAGES_API_ENABLED" in response.json()["error"]["message"]


def test_llama_2_answers_with_generation(llama_2_chat):
    response = llama_2_chat.post("/invocations", json={"inputs": "<s>[INST] Hi [/INST]",
                                                       "parameters": {"max_new_tokens": 4}})
    assert response.status_code == 200, response.text
    [answer] = response.json()
    assert set(answer) == {"generation"} and isinstance(answer["generation"], str)


def test_the_messages_api_answers_a_chat_completion(llama_2_chat):
    body = {"model": "/opt/ml/model", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4,
            "top_p": 0.9, "temperature": 0.6, "top_k": 50}
    response = llama_2_chat.post("/invocations", json=body)
    assert response.status_code == 200, response.text
    completion = response.json()
    assert completion["object"] == "chat.completion"
    assert completion["choices"][0]["message"]["role"] == "assistant"
    assert completion["usage"]["completion_tokens"] <= 4
    same = llama_2_chat.post("/v1/chat/completions", json={**body, "model": None, "temperature": 0})
    again = llama_2_chat.post("/invocations", json={**body, "temperature": 0})
    assert same.json()["choices"][0]["message"] == again.json()["choices"][0]["message"]


@pytest.mark.parametrize(("attributes", "status"), [
    ("accept_eula=false", 400), ("accept_eula=False; trace=1", 400), ("accept_eula=true", 200), ("", 200),
])
def test_custom_attributes_accept_eula_false_is_refused_for_an_eula_model(llama_2_chat, plain, attributes, status):
    payload = {"inputs": "Hi", "parameters": {"max_new_tokens": 2}}
    response = llama_2_chat.post("/invocations", json=payload, headers={EULA_HEADER: attributes})
    assert response.status_code == status, response.text
    if status == 400:
        assert "accept_eula=true" in response.json()["error"]["message"] and LLAMA_2_CHAT in response.text
    # A model without an EULA takes the same header as it comes.
    assert plain.post("/invocations", json=payload, headers={EULA_HEADER: attributes}).status_code == 200


def tgi_events(response: httpx.Response) -> list[dict]:
    return [json.loads(line.removeprefix("data:")) for line in response.iter_lines() if line.startswith("data:")]


def test_a_streamed_text_generation_is_tgis_token_stream(plain):
    payload = {"inputs": "Hello", "parameters": {"max_new_tokens": 4}}
    whole = plain.post("/invocations", json=payload).json()[0]["generated_text"]
    with plain.stream("POST", "/invocations", json={**payload, "stream": True}) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = tgi_events(response)
    assert all(set(e) == {"token", "generated_text", "details"} for e in events)
    assert [e["generated_text"] for e in events[:-1]] == [None] * (len(events) - 1)
    assert "".join(e["token"]["text"] for e in events) == events[-1]["generated_text"] == whole
    assert events[-1]["details"]["finish_reason"] in ("length", "stop")
    with plain.stream("POST", "/invocations", json={**payload, "stream": True,
                                                    "parameters": {"max_new_tokens": 4, "return_full_text": True}}) \
            as response:
        assert tgi_events(response)[-1]["generated_text"] == "Hello" + whole


def test_a_streamed_request_takes_one_input(plain):
    response = plain.post("/invocations", json={"inputs": ["a", "b"], "stream": True})
    assert response.status_code == 422 and "one input" in response.json()["error"]["message"]
