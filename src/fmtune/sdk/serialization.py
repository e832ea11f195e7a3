"""SageMaker's serializers and deserializers (`sagemaker.serializers`, `sagemaker.deserializers`) and the
content-type options JumpStart offers per model (`retrieve_options` / `retrieve_default`).

A serializer turns what `predict` is given into the request body and names its Content-Type; a deserializer
reads the response body (a stream with `read()`) given its Content-Type, and names what it accepts.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from typing import Any

JSON = "application/json"


class JSONSerializer:
    CONTENT_TYPE = JSON

    def __init__(self, content_type: str = JSON) -> None:
        self.CONTENT_TYPE = content_type

    def serialize(self, data: Any) -> str | bytes:
        if hasattr(data, "read"):
            return data.read()
        return json.dumps(data)


class IdentitySerializer:
    """The body as given (bytes or text), e.g. a JSON string already made, or a plain-text prompt."""

    def __init__(self, content_type: str = "application/octet-stream") -> None:
        self.CONTENT_TYPE = content_type

    def serialize(self, data: Any) -> Any:
        return data


class CSVSerializer:
    def __init__(self, content_type: str = "text/csv") -> None:
        self.CONTENT_TYPE = content_type

    def serialize(self, data: Any) -> str:
        if isinstance(data, str):
            return data
        rows = data if data and isinstance(data[0], list | tuple) else [data]
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows(rows)
        return out.getvalue().rstrip("\n")


class JSONDeserializer:
    def __init__(self, accept: str | tuple[str, ...] = JSON) -> None:
        self.ACCEPT = (accept,) if isinstance(accept, str) else accept

    def deserialize(self, stream: Any, content_type: str) -> Any:
        try:
            return json.loads(stream.read())
        finally:
            stream.close()


class StringDeserializer:
    def __init__(self, encoding: str = "UTF-8", accept: str | tuple[str, ...] = JSON) -> None:
        self.encoding = encoding
        self.ACCEPT = (accept,) if isinstance(accept, str) else accept

    def deserialize(self, stream: Any, content_type: str) -> str:
        try:
            return stream.read().decode(self.encoding)
        finally:
            stream.close()


class BytesDeserializer:
    def __init__(self, accept: str | tuple[str, ...] = "*/*") -> None:
        self.ACCEPT = (accept,) if isinstance(accept, str) else accept

    def deserialize(self, stream: Any, content_type: str) -> bytes:
        try:
            return stream.read()
        finally:
            stream.close()


# --- what each model's endpoint takes and gives (JumpStart's retrieve_options / retrieve_default) ---------

def content_type_options(model_id: str) -> list[str]:
    """Request content types the model's endpoint takes: JSON payloads, and a plain-text prompt."""
    _check_model(model_id)
    return [JSON, "text/plain", "application/x-text"]


def serializer_options(model_id: str) -> list[Any]:
    _check_model(model_id)
    return [JSONSerializer(), IdentitySerializer("text/plain")]


def deserializer_options(model_id: str) -> list[Any]:
    _check_model(model_id)
    return [JSONDeserializer(), StringDeserializer(), BytesDeserializer()]


def retrievers(options: Callable[[str], list[Any]]) -> tuple[Callable[..., list[Any]], Callable[..., Any]]:
    """JumpStart's `retrieve_options(region=None, model_id=..., model_version=...)` and `retrieve_default(...)`
    (the first option) for one kind of option."""

    def retrieve_options(region: str | None = None, model_id: str | None = None, model_version: str | None = None,
                         **cloud_only: Any) -> list[Any]:
        return options(model_id or "")

    def retrieve_default(region: str | None = None, model_id: str | None = None, model_version: str | None = None,
                         **cloud_only: Any) -> Any:
        return options(model_id or "")[0]

    return retrieve_options, retrieve_default


def _check_model(model_id: str) -> None:
    from fmtune.catalog import find_card, unknown_model_message

    if find_card(model_id) is None:
        raise ValueError(unknown_model_message(model_id))
