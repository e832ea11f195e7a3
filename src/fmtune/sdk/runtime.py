"""`boto3.client("sagemaker-runtime")` for endpoints on this machine: `invoke_endpoint(EndpointName=..., Body=...,
ContentType=...)` finds a running fmtune endpoint by name (with its stored key) and answers in boto3's shape, so
code written for SageMaker endpoints works with `import boto3` changed to `from fmtune import boto3`.

Errors come as `ClientError` with boto3's `response["Error"]` (`ValidationError` for an endpoint that is not
running, `ModelError` for the endpoint's own 4xx/5xx answer).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

RUNTIME_SERVICES = ("sagemaker-runtime", "runtime.sagemaker")


class ClientError(Exception):
    """botocore.exceptions.ClientError's shape: `response["Error"]["Code"]` and `["Message"]`."""

    def __init__(self, code: str, message: str, operation: str, status: int = 400) -> None:
        super().__init__(f"An error occurred ({code}) when calling the {operation} operation: {message}")
        self.response = {"Error": {"Code": code, "Message": message},
                         "ResponseMetadata": {"HTTPStatusCode": status}}
        self.operation_name = operation


class SageMakerRuntime:
    def invoke_endpoint(self, EndpointName: str, Body: bytes | str, ContentType: str = "application/json",
                        Accept: str = "application/json", CustomAttributes: str | None = None,
                        **ignored: Any) -> dict[str, Any]:
        from fmtune.serve.client import EndpointError

        client = self._client(EndpointName, "InvokeEndpoint")
        try:
            body, content_type = client.invoke_raw(_bytes(Body), ContentType, Accept, CustomAttributes)
        except EndpointError as err:
            raise _model_error(err, "InvokeEndpoint") from None
        return {"Body": io.BytesIO(body), "ContentType": content_type, "InvokedProductionVariant": "AllTraffic",
                "CustomAttributes": CustomAttributes}

    def invoke_endpoint_with_response_stream(self, EndpointName: str, Body: bytes | str,
                                             ContentType: str = "application/json",
                                             Accept: str = "text/event-stream", CustomAttributes: str | None = None,
                                             **ignored: Any) -> dict[str, Any]:
        """`Body` is an iterable of events `{"PayloadPart": {"Bytes": ...}}`, as boto3's EventStream. Send
        `"stream": true` in the payload (TGI's token stream, or the Messages API's chunks)."""
        from fmtune.serve.client import EndpointError

        client = self._client(EndpointName, "InvokeEndpointWithResponseStream")
        pieces = client.invoke_stream(_bytes(Body), ContentType, Accept, CustomAttributes)
        try:  # the endpoint's refusal comes at the call, as boto3 raises it, not at the first event
            first = next(pieces, b"")
        except EndpointError as err:
            raise _model_error(err, "InvokeEndpointWithResponseStream") from None

        def events() -> Iterator[dict[str, Any]]:
            if first:
                yield {"PayloadPart": {"Bytes": first}}
            for piece in pieces:
                yield {"PayloadPart": {"Bytes": piece}}

        return {"Body": events(), "ContentType": "text/event-stream", "InvokedProductionVariant": "AllTraffic"}

    @staticmethod
    def _client(name: str, operation: str) -> Any:
        from fmtune.serve.launcher import find_endpoint

        endpoint = find_endpoint(name)
        if endpoint is None:
            raise ClientError("ValidationError", f"Endpoint {name} not found: no endpoint of that name is running "
                                                 "on this machine (`fmtune endpoints list`).", operation)
        return endpoint.client()


def client(service_name: str, *args: Any, **kwargs: Any) -> SageMakerRuntime:
    """`boto3.client(...)`: the SageMaker runtime only; other AWS services are not stood in for."""
    if service_name not in RUNTIME_SERVICES:
        raise ValueError(f"fmtune.boto3.client({service_name!r}): fmtune stands in only for the SageMaker runtime "
                         f"({' or '.join(map(repr, RUNTIME_SERVICES))}); use the real boto3 for other services.")
    return SageMakerRuntime()


def _bytes(body: bytes | str | Any) -> bytes:
    if hasattr(body, "read"):
        body = body.read()
    return body.encode() if isinstance(body, str) else bytes(body)


def _model_error(err: Any, operation: str) -> ClientError:
    if err.status == 0:
        return ClientError("ServiceUnavailable", err.message, operation, 503)
    return ClientError("ModelError", f"Received client error ({err.status}) from primary with message "
                                     f"\"{err.message}\".", operation, 424)
