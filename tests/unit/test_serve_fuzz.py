"""API fuzzing: schemathesis generates requests from the endpoint's own OpenAPI schema (valid bodies and
invalid ones) and sends them in-process to the app on a tiny random model. No request may get a 5xx, and the
endpoint still answers afterwards. Bounded and derandomized: the same few hundred requests on every run."""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from starlette.testclient import TestClient

from fmtune.serve.app import create_app
from fmtune.serve.engine import Engine

from ..fuzz_support import assert_schema_describes, fuzz_every_operation
from ..serve_support import API_KEY, build_tiny_llama, settings

AUTH = {"Authorization": f"Bearer {API_KEY}"}
BODY_ROUTES = {"POST /v1/completions": "CompletionRequest", "POST /v1/chat/completions": "ChatRequest",
               "POST /invocations": "TextGenerationRequest"}


@pytest.fixture(scope="module")
def app(tmp_path_factory, embedded_model_dir):
    tiny_dir: Path = build_tiny_llama(tmp_path_factory.mktemp("tiny") / "llama", embedded_model_dir, context=64)
    engine = Engine.load(str(tiny_dir), None, settings(max_new_tokens_cap=4, default_max_new_tokens=4))
    yield create_app(engine)
    engine.close()


@pytest.fixture(scope="module")
def schema(app):
    return schemathesis.openapi.from_asgi("/openapi.json", app, headers=AUTH)


def test_the_schema_describes_every_route_and_its_body(app, schema):
    document = assert_schema_describes(app, schema, BODY_ROUTES)
    fields = document["components"]["schemas"]["TextGenerationParameters"]["properties"]
    assert {"maximum": 2} .items() <= fields["temperature"]["anyOf"][0].items()


def test_no_generated_request_gets_a_server_error(app, schema):
    fuzz_every_operation(schema, BODY_ROUTES, AUTH)
    with TestClient(app) as client:
        assert client.get("/health").json() == {"status": "ok"}
        response = client.post("/v1/completions", headers=AUTH, json={"prompt": "Hello", "max_tokens": 2})
        assert response.status_code == 200 and response.json()["usage"]["completion_tokens"] <= 2
