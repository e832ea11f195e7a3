"""`from fmtune import boto3`: `boto3.client("sagemaker-runtime").invoke_endpoint(...)` against a managed endpoint
found by name, as the Falcon and Mistral notebooks call their endpoints; streaming too."""

from __future__ import annotations

import json

import pytest

from fmtune import boto3
from fmtune.serve import start_endpoint, stop_endpoint
from fmtune.serve.settings import ServeSettings

from ..serve_support import build_tiny_llama


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory, embedded_model_dir):
    folder = build_tiny_llama(tmp_path_factory.mktemp("tiny") / "llama", embedded_model_dir, context=256)
    running = start_endpoint(str(folder), name="runtime-test", settings=ServeSettings(messages_api=True))
    yield running
    stop_endpoint(running)


def invoke(payload: dict, **kwargs) -> dict:
    runtime = boto3.client("runtime.sagemaker")
    response = runtime.invoke_endpoint(EndpointName="runtime-test", ContentType="application/json",
                                       Body=json.dumps(payload), **kwargs)
    return json.loads(response["Body"].read().decode("utf-8"))


def test_invoke_endpoint_by_name(endpoint):
    answer = invoke({"inputs": "Hello", "parameters": {"max_new_tokens": 4}})
    assert set(answer[0]) == {"generated_text"}
    chat = invoke({"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4})
    assert chat["choices"][0]["message"]["role"] == "assistant"


def test_streams_arrive_as_payload_parts(endpoint):
    runtime = boto3.client("sagemaker-runtime")
    body = json.dumps({"inputs": "Hello", "parameters": {"max_new_tokens": 4}, "stream": True})
    response = runtime.invoke_endpoint_with_response_stream(EndpointName="runtime-test", Body=body,
                                                            ContentType="application/json")
    data = b"".join(event["PayloadPart"]["Bytes"] for event in response["Body"]).decode()
    events = [json.loads(line.removeprefix("data:")) for line in data.splitlines() if line.startswith("data:")]
    whole = invoke({"inputs": "Hello", "parameters": {"max_new_tokens": 4}})[0]["generated_text"]
    assert events[-1]["generated_text"] == whole


def test_errors_come_in_boto3s_shape(endpoint):
    runtime = boto3.client("sagemaker-runtime")
    with pytest.raises(boto3.ClientError) as missing:
        runtime.invoke_endpoint(EndpointName="nowhere", Body=b"{}")
    assert missing.value.response["Error"]["Code"] == "ValidationError"
    with pytest.raises(boto3.ClientError) as refused:
        runtime.invoke_endpoint(EndpointName="runtime-test", Body=b'{"neither": 1}', ContentType="application/json")
    assert refused.value.response["Error"]["Code"] == "ModelError" and "422" in str(refused.value)
    with pytest.raises(boto3.ClientError) as refused_stream:
        runtime.invoke_endpoint_with_response_stream(EndpointName="runtime-test", Body=b"[1",
                                                     ContentType="application/json")
    assert refused_stream.value.response["Error"]["Code"] == "ModelError"
    with pytest.raises(ValueError, match="only for the SageMaker runtime"):
        boto3.client("s3")
