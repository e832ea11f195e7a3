"""API fuzzing of a text-to-image endpoint, as tests/unit/test_serve_fuzz.py does for text: schemathesis sends
requests generated from the endpoint's own OpenAPI schema (valid and invalid bodies) in-process to the app on
the tiny SD 2.x pipeline. No request may get a 5xx, and the endpoint still answers afterwards."""

from __future__ import annotations

import pytest
import schemathesis
from starlette.testclient import TestClient

from fmtune.catalog import get_card
from fmtune.models.tiny_pipeline import build_tiny_pipeline
from fmtune.serve.image_app import create_image_app
from fmtune.serve.image_engine import ImageEngine
from fmtune.serve.settings import ServeSettings

from ..fuzz_support import assert_schema_describes, fuzz_every_operation

API_KEY = "fuzz-key"
AUTH = {"Authorization": f"Bearer {API_KEY}"}
BODY_ROUTES = {"POST /invocations": "TextToImageRequest", "POST /v1/images/generations": "ImageGenerationRequest"}


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    folder = build_tiny_pipeline(get_card("model-txt2img-stabilityai-stable-diffusion-v2-1-base"),
                                 tmp_path_factory.mktemp("sd") / "pipeline")
    # small caps keep every valid request cheap: at most 2 images of 64 x 64 in 2 steps
    settings = ServeSettings(api_key=API_KEY, max_image_side=64, max_inference_steps=2, max_images=2)
    engine = ImageEngine.load(str(folder), None, settings)
    yield create_image_app(engine)
    engine.close()


@pytest.fixture(scope="module")
def schema(app):
    return schemathesis.openapi.from_asgi("/openapi.json", app, headers=AUTH)


def test_the_schema_describes_every_route_and_its_body(app, schema):
    document = assert_schema_describes(app, schema, BODY_ROUTES)
    assert document["components"]["schemas"]["TextToImageRequest"]["properties"]["width"]["anyOf"][0] == {
        "type": "integer", "minimum": 8, "multipleOf": 8}


def test_no_generated_request_gets_a_server_error(app, schema):
    fuzz_every_operation(schema, BODY_ROUTES, AUTH)
    with TestClient(app) as client:
        assert client.get("/health").json() == {"status": "ok"}
        answer = client.post("/invocations", headers=AUTH, json={"prompt": "a cat", "width": 16, "height": 8})
        assert answer.status_code == 200 and len(answer.json()["generated_images"][0]) == 8
