"""A small HTTP client for an fmtune endpoint (standard library only): what the SDK's Predictor uses."""

from __future__ import annotations

import contextlib
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any


class EndpointError(Exception):
    """The endpoint answered with an error (status and the server's message), or could not be reached."""

    def __init__(self, status: int, message: str, body: Any = None) -> None:
        super().__init__(f"{status}: {message}" if status else message)
        self.status, self.message, self.body = status, message, body


class EndpointClient:
    def __init__(self, url: str, api_key: str | None = None, timeout: float = 300.0) -> None:
        self.url = url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout
        # Loopback endpoints must not go through a proxy from the environment.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def invoke(self, payload: dict[str, Any]) -> Any:
        """POST /invocations with a JumpStart payload ({"inputs": ...} or {"text_inputs": ...})."""
        return self.request("POST", "/invocations", payload)

    def complete(self, prompt: str, model: str | None = None, **params: Any) -> dict[str, Any]:
        return self.request("POST", "/v1/completions", {"prompt": prompt, "model": model, **params})

    def chat(self, messages: list[dict[str, str]], model: str | None = None, **params: Any) -> dict[str, Any]:
        return self.request("POST", "/v1/chat/completions", {"messages": messages, "model": model, **params})

    def models(self) -> list[str]:
        return [entry["id"] for entry in self.request("GET", "/v1/models")["data"]]

    def metrics(self) -> str:
        return self.request("GET", "/metrics", raw=True)

    def health(self) -> bool:
        try:
            return self.request("GET", "/health", timeout=5).get("status") == "ok"
        except EndpointError:
            return False

    def request(self, method: str, path: str, payload: Any = None, *, raw: bool = False,
                timeout: float | None = None) -> Any:
        data = None if payload is None else json.dumps(payload).encode()
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        body, _ = self.send(method, path, data, headers, timeout)
        text = body.decode()
        return text if raw else json.loads(text)

    def invoke_raw(self, body: bytes, content_type: str, accept: str = "application/json",
                   custom_attributes: str | None = None) -> tuple[bytes, str]:
        """POST /invocations with a body as it is (SageMaker's invoke_endpoint); the response body and type."""
        return self.send("POST", "/invocations", body, invocation_headers(content_type, accept, custom_attributes))

    def invoke_stream(self, body: bytes, content_type: str, accept: str = "text/event-stream",
                      custom_attributes: str | None = None) -> Iterator[bytes]:
        """POST /invocations and yield the response body in pieces as they arrive (a streamed answer)."""
        with self._open("POST", "/invocations", body, invocation_headers(content_type, accept,
                                                                        custom_attributes)) as response:
            yield from iter(lambda: response.read1(65536), b"")

    def send(self, method: str, path: str, data: bytes | None, headers: dict[str, str],
             timeout: float | None = None) -> tuple[bytes, str]:
        """One request with the key; an error answer raises EndpointError with the server's message."""
        with self._open(method, path, data, headers, timeout) as response:
            return response.read(), response.headers.get("Content-Type", "")

    @contextlib.contextmanager
    def _open(self, method: str, path: str, data: bytes | None, headers: dict[str, str],
              timeout: float | None = None) -> Iterator[Any]:
        if self.api_key:
            headers = {**headers, "Authorization": f"Bearer {self.api_key}"}
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        try:
            response = self._opener.open(req, timeout=timeout or self.timeout)
        except urllib.error.HTTPError as err:
            text = err.read().decode(errors="replace")
            try:
                body = json.loads(text)
                message = body.get("error", {}).get("message", text) if isinstance(body, dict) else text
            except json.JSONDecodeError:
                body, message = text, text
            raise EndpointError(err.code, message, body) from None
        except (urllib.error.URLError, OSError) as err:
            reason = getattr(err, "reason", err)
            raise EndpointError(0, f"cannot reach the endpoint at {self.url}: {reason}") from None
        with response:
            yield response


def invocation_headers(content_type: str, accept: str, custom_attributes: str | None) -> dict[str, str]:
    headers = {"Content-Type": content_type, "Accept": accept}
    if custom_attributes:
        headers["X-Amzn-SageMaker-Custom-Attributes"] = custom_attributes  # what invoke_endpoint sends
    return headers
