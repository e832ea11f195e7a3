"""A managed endpoint, as `Estimator.deploy()` starts it: a background `fmtune deploy` process that
`fmtune endpoints list` shows and `fmtune endpoints stop` (or `stop_endpoint`) ends."""

from __future__ import annotations

import json

import pytest

from fmtune.catalog import DEFAULT_MODEL_ID
from fmtune.cli.main import main
from fmtune.errors import UserError
from fmtune.serve import EndpointClient, EndpointError, find_endpoint, start_endpoint, stop_endpoint
from fmtune.serve.registry import get_endpoint

from ..serve_support import make_lora_adapter

pytestmark = pytest.mark.slow


def test_start_use_list_and_stop_a_managed_endpoint(tmp_path, embedded_model_dir, capsys):
    adapter = make_lora_adapter(embedded_model_dir, tmp_path / "alpha", seed=1)
    endpoint = start_endpoint(DEFAULT_MODEL_ID, adapters={"alpha": str(adapter)}, name="smol-test", timeout=240)
    try:
        record = get_endpoint("smol-test")
        assert endpoint.url.startswith("http://127.0.0.1:") and record is not None and record.handle.alive()
        assert endpoint.api_key  # a key is made when none is given: never open by accident
        with pytest.raises(EndpointError) as info:
            EndpointClient(endpoint.url).models()
        assert info.value.status == 401
        client = endpoint.client()
        assert client.models() == [DEFAULT_MODEL_ID, "alpha"]
        answer = client.invoke({"inputs": "Paris is the capital of", "parameters": {"max_new_tokens": 3}})
        assert isinstance(answer, list) and answer[0]["generated_text"].strip()
        chat = client.chat([{"role": "user", "content": "Hi"}], model="alpha", max_tokens=3, temperature=0)
        assert chat["model"] == "alpha" and chat["usage"]["completion_tokens"] <= 3

        found = find_endpoint("smol-test", endpoint.api_key)
        assert found is not None and found.url == endpoint.url and found.client().health()

        assert main(["endpoints", "list", "--json"]) == 0
        (listed,) = json.loads(capsys.readouterr().out)
        assert listed["name"] == "smol-test" and listed["url"] == endpoint.url and listed["pid"] == endpoint.pid
        assert listed["adapters"] == ["alpha"] and listed["auth"] is True and "api_key" not in listed

        assert main(["endpoints", "stop", "smol-test"]) == 0
        assert "stopped smol-test" in capsys.readouterr().out
        assert not record.handle.alive()
        assert not client.health()
        assert main(["endpoints", "list", "--json"]) == 0 and json.loads(capsys.readouterr().out) == []
        assert find_endpoint("smol-test") is None
        assert f"endpoint smol-test: {endpoint.url}" in endpoint.log_path.read_text()
    finally:
        stop_endpoint(endpoint)
    assert stop_endpoint(endpoint) is False  # already stopped


def test_a_failing_start_says_why(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "pytorch_model.bin").write_bytes(b"not safetensors")
    with pytest.raises(UserError, match="failed to start") as info:
        start_endpoint(str(tmp_path), name="broken", timeout=120)
    assert "holds only pickled weights (pytorch_model.bin)" in str(info.value)
