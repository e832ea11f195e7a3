"""Inference endpoints: JumpStart /invocations and an OpenAI-compatible API over a tuned model and its adapters.

    from fmtune.serve import start_endpoint, stop_endpoint
    endpoint = start_endpoint("my-job")                 # background process, returns when it answers
    endpoint.client().invoke({"inputs": "Hello", "parameters": {"max_new_tokens": 16}})
    stop_endpoint(endpoint)

Importing this package does not import torch; the engine loads when a server starts.
"""

from fmtune.serve.client import EndpointClient, EndpointError
from fmtune.serve.launcher import Endpoint, find_endpoint, start_endpoint, stop_endpoint
from fmtune.serve.registry import EndpointRecord, list_endpoints
from fmtune.serve.settings import ServeSettings

__all__ = [
    "Endpoint",
    "EndpointClient",
    "EndpointError",
    "EndpointRecord",
    "ServeSettings",
    "find_endpoint",
    "list_endpoints",
    "start_endpoint",
    "stop_endpoint",
]
