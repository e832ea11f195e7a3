"""Fuzzing an endpoint from its own OpenAPI schema (schemathesis): the one loop both endpoint kinds share."""

from __future__ import annotations

from collections.abc import Iterable

from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from schemathesis import GenerationMode

MAX_EXAMPLES = 25  # per operation and generation mode


def fuzz_every_operation(schema, body_routes: Iterable[str], headers: dict[str, str]) -> None:
    """Valid requests for every route, and invalid ones for those with a body: bounded and derandomized (the same
    few hundred requests on every run). No request may get a 5xx."""
    with_body = set(body_routes)
    for result in schema.get_all_operations():
        operation = result.ok()
        modes = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE) if operation.label in with_body else (
            GenerationMode.POSITIVE,)
        for mode in modes:
            _fuzz(operation, mode, headers)


def _fuzz(operation, mode: GenerationMode, headers: dict[str, str]) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @hypothesis_settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
                         suppress_health_check=list(HealthCheck))
    def send(case) -> None:
        response = case.call(headers=headers)
        assert response.status_code < 500, f"{case.as_curl_command()}\n-> {response.status_code} {response.text}"

    send()


def assert_schema_describes(app, schema, body_routes: dict[str, str]) -> dict:
    """Every endpoint's common routes and each body route's model are in its OpenAPI document (returned)."""
    labels = {operation.ok().label for operation in schema.get_all_operations()}
    assert labels >= {"GET /health", "GET /metrics", "GET /v1/models", *body_routes}
    document = app.openapi()
    for label, model in body_routes.items():
        method, path = label.lower().split()
        body = document["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]
        assert f"#/components/schemas/{model}" in str(body)
    return document
