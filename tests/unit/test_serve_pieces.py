"""Endpoint pieces that need no model: stop strings, incremental decoding, sampling, limits, settings,
request validation, Prometheus text, the endpoint registry, and `fmtune deploy`/`endpoints` argument errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from fmtune.cli.main import main
from fmtune.errors import UserError
from fmtune.process import process_identity
from fmtune.serve.decoding import Detokenizer, SamplingParams, StopStrings, sample
from fmtune.serve.engine import left_pad, model_context_length
from fmtune.serve.metrics import Metrics
from fmtune.serve.protocol import (
    MAX_JSON_DEPTH,
    ApiError,
    ChatRequest,
    CompletionRequest,
    TextGenerationRequest,
    json_depth,
    parse_json,
    stop_list,
    validate,
)
from fmtune.serve.registry import EndpointRecord, check_name, get_endpoint, list_endpoints, register
from fmtune.serve.settings import ServeSettings

pytestmark = pytest.mark.usefixtures("home")  # a fresh FMTUNE_HOME for every test

SRC = Path(__file__).parents[2] / "src"


# --- stop strings and streaming text ----------------------------------------------------------------


def stream(stops: tuple[str, ...], pieces: list[str]) -> tuple[list[str], bool]:
    checker = StopStrings(stops)
    out = []
    for piece in pieces:
        text, hit = checker.push(piece)
        out.append(text)
        if hit:
            return out, True
    out.append(checker.flush())
    return out, False


def test_stop_string_cuts_the_text_before_it():
    out, hit = stream(("###",), ["Paris", " is", " nice", "##", "# more"])
    assert hit and "".join(out) == "Paris is nice"


def test_partial_stop_string_is_held_back_then_released():
    out, hit = stream(("END",), ["a", "E", "N", "x"])
    assert not hit
    assert out[:3] == ["a", "", ""]  # "E", "EN" might begin "END": not shown yet
    assert "".join(out) == "aENx"


def test_earliest_of_several_stop_strings_wins():
    out, hit = stream(("\n\n", "User:"), ["ok", " User: hi\n\n"])
    assert hit and "".join(out) == "ok "


def test_no_stop_strings_passes_text_through():
    assert stream((), ["a", "b"]) == (["a", "b", ""], False)


def test_detokenizer_deltas_add_up_to_the_full_text(smollm_tokenizer):
    text = "Héllo wörld 🎉! def f(x):\n    return x  # ünïcode"
    ids = smollm_tokenizer(text, add_special_tokens=False)["input_ids"]
    detok = Detokenizer(smollm_tokenizer)
    deltas = [detok.push(token) for token in ids]
    assert all("\ufffd" not in d for d in deltas)  # never half a character
    assert "".join(deltas) + detok.flush() == smollm_tokenizer.decode(ids)


# --- sampling, padding, context ----------------------------------------------------------------------


def test_sampling_is_reproducible_with_a_seed_and_top_p_narrows_it():
    logits = torch.tensor([2.0, 1.9, 1.8, -5.0])

    def draws(seed: int, top_p: float, top_k: int | None = None) -> list[int]:
        generator = torch.Generator().manual_seed(seed)
        params = SamplingParams(1, temperature=1.0, top_p=top_p, top_k=top_k)
        return [sample(logits, params, generator) for _ in range(50)]

    assert draws(7, 1.0) == draws(7, 1.0)
    assert draws(7, 1.0) != draws(8, 1.0)
    assert set(draws(7, 1.0)) >= {0, 1, 2}
    assert set(draws(7, 0.01)) == {0}  # only the most likely token is left
    assert set(draws(7, 1.0, top_k=2)) == {0, 1}


@pytest.mark.parametrize("temperature", [1e-300, 1e-40, 1e-6, 1e-5, 1e-3, 2.0])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_sampling_is_numerically_safe_at_any_temperature(temperature, dtype):
    """Dividing logits by 1e-300 overflowed to inf and softmax gave nan ("probability tensor contains inf")."""
    logits = torch.tensor([30.0, 29.5, -20.0, 5.0, float("-inf")], dtype=dtype)
    params = SamplingParams(1, temperature=temperature, top_p=0.9, top_k=3)
    tokens = {sample(logits, params, torch.Generator().manual_seed(seed)) for seed in range(20)}
    assert tokens <= {0, 1}
    if temperature < 1e-5:
        assert params.greedy and tokens == {0}


def test_left_pad_aligns_prompts_on_the_right():
    ids, mask = left_pad([[5, 6, 7], [9]], pad_id=0)
    assert ids.tolist() == [[5, 6, 7], [0, 0, 9]]
    assert mask.tolist() == [[1, 1, 1], [0, 0, 1]]


def test_context_length_comes_from_the_config_then_the_tokenizer():
    tokenizer = SimpleNamespace(model_max_length=512)
    assert model_context_length(SimpleNamespace(max_position_embeddings=8192), tokenizer) == 8192
    assert model_context_length(SimpleNamespace(n_positions=1024), tokenizer) == 1024
    assert model_context_length(SimpleNamespace(), tokenizer) == 512
    assert model_context_length(SimpleNamespace(), SimpleNamespace(model_max_length=10**30)) == 2048


# --- settings ------------------------------------------------------------------------------------------


def test_defaults_bind_loopback_only():
    assert ServeSettings().check().host == "127.0.0.1"


def test_all_setting_problems_are_reported_together():
    with pytest.raises(UserError) as info:
        ServeSettings(host="0.0.0.0", port=70000, max_batch_size=0).check()
    message = str(info.value)
    assert "--port 70000" in message and "--max-batch-size 0" in message
    assert "--host 0.0.0.0" in message and "--api-key" in message
    ServeSettings(host="0.0.0.0", api_key="k").check()  # with a key the network address is allowed
    ServeSettings(host="::1").check()


# --- request validation ---------------------------------------------------------------------------------


def test_bad_json_is_a_400_naming_the_problem():
    with pytest.raises(ApiError) as info:
        parse_json(b'{"prompt": ')
    assert info.value.status == 400 and "not valid JSON" in info.value.message
    with pytest.raises(ApiError) as info:
        validate(CompletionRequest, [1, 2])
    assert info.value.status == 400 and "JSON object" in info.value.message


def test_field_problems_are_a_422_listing_every_field():
    with pytest.raises(ApiError) as info:
        validate(CompletionRequest, {"prompt": 5, "temperature": 9, "max_tokens": 0, "stream": "maybe"})
    error = info.value
    assert error.status == 422
    for field in ("prompt", "temperature", "max_tokens", "stream"):
        assert f"{field}:" in error.message, error.message
    with pytest.raises(ApiError) as info:
        validate(ChatRequest, {"messages": []})
    assert "messages:" in info.value.message


@pytest.mark.parametrize(("field", "value", "bound"), [
    ("temperature", 1e308, "less than or equal to 2"), ("temperature", -1, "greater than or equal to 0"),
    ("temperature", float("nan"), "finite number"), ("top_p", 0, "greater than 0"), ("top_p", 1.5, "1"),
    ("top_k", 0, "greater than or equal to 1"),
])
def test_jumpstart_and_openai_bodies_check_sampling_fields_alike(field, value, bound):
    """/invocations accepted temperature=1e308: every route now shares one definition of each sampling field."""
    messages = []
    for model, body, where in ((CompletionRequest, {"prompt": "hi", field: value}, field),
                               (TextGenerationRequest, {"inputs": "hi", "parameters": {field: value}},
                                f"parameters.{field}")):
        with pytest.raises(ApiError) as info:
            validate(model, body)
        assert info.value.status == 422 and f"{where}: " in info.value.message and bound in info.value.message
        assert json.dumps(value) in info.value.message  # the value the client sent
        messages.append(info.value.message.split(": ", 2)[-1])
    assert messages[0] == messages[1]


def test_deeply_nested_bodies_are_a_400_not_a_recursion_error():
    with pytest.raises(ApiError) as info:
        parse_json(b"[" * 100_000)
    assert info.value.status == 400 and "100000 levels deep" in info.value.message
    assert f"at most {MAX_JSON_DEPTH}" in info.value.message
    deepest = b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH
    assert json_depth(deepest) == MAX_JSON_DEPTH and parse_json(deepest)
    with pytest.raises(ApiError):
        parse_json(b"[" + deepest + b"]")
    assert json_depth(b'{"a": "[[[[{{{", "b": "\\\"]]", "c": [1, {"d": []}]}') == 4  # brackets in strings are text


def test_a_lone_surrogate_is_a_400():
    with pytest.raises(ApiError) as info:
        parse_json(b'{"prompt": "\\ud800"}')
    assert info.value.status == 400 and "surrogate" in info.value.message


def test_stop_accepts_a_string_or_a_list():
    assert stop_list("###") == ("###",)
    assert stop_list(["a", "", "b"]) == ("a", "b")
    assert stop_list(None) == ()
    with pytest.raises(ApiError):
        stop_list(["x"] * 17)


# --- metrics --------------------------------------------------------------------------------------------


def test_prometheus_text_has_counters_histograms_and_gauges():
    metrics = Metrics()
    metrics.inc("fmtune_requests_total", route="/v1/completions", status="200")
    metrics.inc("fmtune_requests_total", route="/v1/completions", status="200")
    metrics.observe("fmtune_request_duration_seconds", 0.3, route="/v1/completions")
    metrics.observe("fmtune_request_duration_seconds", 7.0, route="/v1/completions")
    metrics.gauge("fmtune_requests_waiting", lambda: 3)
    text = metrics.render()
    assert "# HELP fmtune_requests_total HTTP requests by route and status code." in text
    assert "# TYPE fmtune_request_duration_seconds histogram" in text
    assert 'fmtune_requests_total{route="/v1/completions",status="200"} 2.0' in text
    assert 'fmtune_request_duration_seconds_bucket{le="0.5",route="/v1/completions"} 1.0' in text
    assert 'fmtune_request_duration_seconds_bucket{le="+Inf",route="/v1/completions"} 2.0' in text
    assert 'fmtune_request_duration_seconds_count{route="/v1/completions"} 2.0' in text
    assert 'fmtune_request_duration_seconds_sum{route="/v1/completions"} 7.3' in text
    assert "fmtune_requests_waiting 3.0" in text
    assert "_created" not in text
    assert metrics.counter_value("fmtune_requests_total", route="/v1/completions", status="200") == 2.0
    assert Metrics().counter_value("fmtune_requests_total", route="/v1/completions", status="200") == 0.0


# --- registry and CLI -------------------------------------------------------------------------------------


def test_registry_lists_live_endpoints_and_drops_dead_and_recycled_ones(home):
    sleeper = [sys.executable, "-c", "import time; time.sleep(60)"]
    alive = subprocess.Popen([*sleeper, "fmtune-endpoint"])  # an fmtune process
    other = subprocess.Popen(sleeper)  # a live pid whose identity is not the recorded one (pid reuse)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait(timeout=60)
    try:
        identities = {"alive": process_identity(alive.pid), "other": "another-boot:1", "dead": None}
        for name, process in (("alive", alive), ("other", other), ("dead", dead)):
            register(EndpointRecord(name=name, url="http://127.0.0.1:1", pid=process.pid, model="m",
                                    proc_start=identities[name]))
        assert [r.name for r in list_endpoints()] == ["alive"]
        assert not (home / "endpoints" / "dead.json").exists()
        assert not (home / "endpoints" / "other.json").exists()
    finally:
        for process in (alive, other):
            process.kill()
            process.wait(timeout=60)


def test_registry_record_has_no_secret(home):
    register(EndpointRecord(name="e1", url="http://127.0.0.1:1", pid=os.getpid(), model="m", auth=True))
    stored = json.loads((home / "endpoints" / "e1.json").read_text())
    assert "api_key" not in stored and stored["auth"] is True


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["deploy", "m", "--adapter", "noequals"], "expected NAME=PATH"),
        (["deploy", "m", "--adapter", "a=x", "--adapter", "a=y"], "given twice"),
        (["deploy", "m", "--port", "70000"], "--port 70000"),
        (["deploy", "m", "--host", "0.0.0.0"], "needs an API key"),
        (["deploy", "m", "--max-queue", "-1"], "--max-queue -1"),
        (["deploy", "no-such-model-anywhere"], "no-such-model-anywhere"),
        (["endpoints", "stop", "ghost"], "no running endpoint named 'ghost'"),
        (["endpoints", "stop"], "usage: fmtune endpoints stop"),
        (["deploy", "m", "--name", "bad name!"], "endpoint name"),
    ],
)
def test_deploy_and_endpoints_mistakes_exit_2(argv, message, capsys, monkeypatch):
    monkeypatch.delenv("FMTUNE_API_KEY", raising=False)
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_deploy_unknown_option_exits_2_with_usage(capsys):
    with pytest.raises(SystemExit) as info:
        main(["deploy", "m", "--bogus"])
    assert info.value.code == 2 and "unrecognized arguments: --bogus" in capsys.readouterr().err


def test_endpoints_list_when_none_run(capsys):
    assert main(["endpoints", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert main(["endpoints"]) == 0
    assert "no endpoints running" in capsys.readouterr().out


def test_endpoint_commands_do_not_import_torch(home):
    code = "import sys; from fmtune.cli.main import main; main(['endpoints', 'list']); print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(SRC), "FMTUNE_HOME": str(home)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("False")


@pytest.mark.parametrize("name", ["abc\n", "abc\n\n", "\nabc", "a b", "", "-abc", "x" * 64])
def test_endpoint_names_are_checked_whole(name):
    with pytest.raises(UserError, match="endpoint name"):
        check_name(name)


def test_endpoint_names_that_are_fine():
    assert check_name("abc") == "abc" and check_name("my-job.v2_1") == "my-job.v2_1" and check_name("x" * 63)


def test_get_endpoint_unknown_is_none():
    assert get_endpoint("nothing-here") is None


def test_chat_without_any_template_is_a_plain_transcript():
    from fmtune.data.prompting import PromptFormat
    from fmtune.serve.engine import render_chat

    text, templated = render_chat(SimpleNamespace(chat_template=None), PromptFormat(mode="domain"),
                                  [{"role": "system", "content": "Be kind."}, {"role": "user", "content": "Hi"}])
    assert (text, templated) == ("System: Be kind.\nUser: Hi\nAssistant:", False)


@pytest.mark.parametrize(("flags", "enabled"), [([], False), (["--messages-api"], True)])
def test_deploy_messages_api_flag_reaches_the_settings(flags, enabled, monkeypatch):
    import fmtune.serve.server

    seen = {}
    monkeypatch.setattr(fmtune.serve.server, "serve_forever",
                        lambda model, adapters, settings, name=None: seen.setdefault("settings", settings) and 0)
    assert main(["deploy", "some-model", *flags]) == 0
    assert seen["settings"].messages_api is enabled
