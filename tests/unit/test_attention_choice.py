"""attention=auto: eager attention where timed faster on this machine's CPU and its probabilities fit the plan."""

from __future__ import annotations

import json

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from transformers import GPT2Config, LlamaConfig

from fmtune.config.hyperparameters import parse_hyperparameters
from fmtune.data.encode import Encoded
from fmtune.models import attention, cpu, memory
from fmtune.models.attention import (
    MIN_SPEEDUP,
    AttentionShape,
    AttentionTimings,
    attention_for,
    eager_attention,
    packed_masks,
    sdpa_attention,
)
from fmtune.models.verdicts import cache_path
from fmtune.recipes.setup import Setup, memory_plan, plan_memory
from fmtune.training.distributed import Dist
from tests.support.recording import recording

CPU = torch.device("cpu")
SHAPE = AttentionShape(rows=2, length=224, heads=9, kv_heads=3, head_dim=64)


@pytest.fixture
def cache(home):
    return cache_path("attention.json")


def timings(sdpa: float, eager: float):
    return recording(AttentionTimings(sdpa=sdpa, eager=eager))


def test_auto_picks_eager_when_measured_faster_and_the_verdict_is_cached_per_cpu_precision_and_shape(
        cache, monkeypatch):
    monkeypatch.setattr(attention, "time_attention", timings(sdpa=2.0, eager=1.0))
    first = attention_for("auto", CPU, SHAPE, bf16=True, distributed=False)
    assert first.eager and first.speedup == 2.0
    assert "2.00x as fast as SDPA over 2 rows x 224 tokens, 9 heads (3 key/value) of 64 in bf16" in first.reason
    assert "measured now" in first.reason
    assert first.record() == {"attention": "eager", "attention_reason": first.reason,
                              "eager_attention_speedup": "2.00"}
    (key, verdict), = json.loads(cache.read_text()).items()
    assert cpu.cpu_model() in key and torch.__version__ in key and "bf16" in key and "2x224" in key
    assert verdict == {"speedup": 2.0, "sdpa": 2.0, "eager": 1.0}

    again = attention_for("auto", CPU, SHAPE, bf16=True, distributed=False)
    assert again.eager and "cached measurement" in again.reason
    attention_for("auto", CPU, SHAPE, bf16=False, distributed=False)  # another precision: measured again
    assert attention.time_attention.calls == [(SHAPE, True), (SHAPE, False)]


def test_auto_keeps_the_default_kernel_when_eager_is_not_fast_enough(cache, monkeypatch):
    monkeypatch.setattr(attention, "time_attention", timings(sdpa=1.0, eager=1.0 / (MIN_SPEEDUP - 0.05)))
    choice = attention_for("auto", CPU, SHAPE, bf16=True, distributed=False)
    assert choice.implementation == "default" and choice.record()["attention"] == "default"
    assert choice.reason.startswith("default: eager attention ran forward and backward 1.10x as fast")


def test_nothing_is_timed_where_eager_is_out_of_the_question(cache, monkeypatch):
    monkeypatch.setattr(attention, "time_attention", timings(sdpa=9.0, eager=1.0))
    assert attention_for("eager", CPU, SHAPE, True, False).record() == {"attention": "eager",
                                                                        "attention_reason": "attention=eager"}
    assert attention_for("sdpa", CPU, SHAPE, True, False).implementation == "sdpa"
    assert attention_for("auto", torch.device("cuda"), SHAPE, True, False).implementation == "default"
    assert attention_for("auto", CPU, SHAPE, True, distributed=True).implementation == "default"
    assert attention_for("auto", CPU, None, True, False).reason == (
        "default: this model's config does not say its attention heads")
    long_rows = AttentionShape(rows=4, length=4096, heads=32, kv_heads=8, head_dim=128)
    too_big = attention_for("auto", CPU, long_rows, True, False)
    assert too_big.implementation == "default" and "MiB of probabilities per layer" in too_big.reason
    assert attention.time_attention.calls == [] and not cache.exists()


def test_the_shape_comes_from_the_config_whatever_its_names():
    llama = LlamaConfig(hidden_size=576, num_attention_heads=9, num_key_value_heads=3, intermediate_size=1536)
    assert AttentionShape.from_config(llama, 4, 152) == AttentionShape(4, 152, 9, 3, 64)
    gpt2 = GPT2Config(n_embd=64, n_head=4)  # n_head / n_embd, through transformers' attribute map; no GQA
    assert AttentionShape.from_config(gpt2, 2, 32) == AttentionShape(2, 32, 4, 4, 16)
    gemma_like = LlamaConfig(hidden_size=64, num_attention_heads=4, num_key_value_heads=1, head_dim=32)
    assert AttentionShape.from_config(gemma_like, 1, 8).head_dim == 32  # head_dim != hidden / heads


@settings(max_examples=25, deadline=None)
@given(rows=st.integers(1, 3), length=st.integers(1, 40), kv_heads=st.integers(1, 3), groups=st.integers(1, 3),
       head_dim=st.sampled_from([4, 8, 16]))
def test_the_two_timed_kernels_compute_the_same_attention_and_gradients(rows, length, kv_heads, groups, head_dim):
    """The timing compares the same work: both kernels, as transformers calls them over packed rows, agree."""
    generator = torch.Generator().manual_seed(length)
    q = torch.randn(rows, kv_heads * groups, length, head_dim, generator=generator)
    k = torch.randn(rows, kv_heads, length, head_dim, generator=generator)
    v = torch.randn(rows, kv_heads, length, head_dim, generator=generator)
    allowed, additive = packed_masks(rows, length)
    grad = torch.randn(q.shape, generator=generator)
    outputs = []
    for kernel, mask in ((sdpa_attention, allowed), (eager_attention, additive)):
        inputs = [t.clone().requires_grad_() for t in (q, k, v)]
        out = kernel(*inputs, mask)
        out.backward(grad)
        outputs.append([out.detach(), *(t.grad for t in inputs)])
    for a, b in zip(*outputs, strict=True):
        torch.testing.assert_close(a, b)


def test_packed_masks_keep_each_of_three_examples_to_itself_and_causal():
    allowed, additive = packed_masks(1, 9)
    expected = torch.block_diag(*[torch.ones(3, 3).tril()] * 3).bool()
    assert torch.equal(allowed[0, 0], expected)
    assert torch.equal(additive[0, 0] == 0, expected)


def test_the_real_timing_runs_both_kernels_in_both_precisions():
    for bf16 in (True, False):
        measured = attention.time_attention(AttentionShape(1, 16, 2, 1, 8), bf16)
        assert measured.sdpa > 0 and measured.eager > 0


TINY_LLAMA = {"model_type": "llama", "hidden_size": 256, "intermediate_size": 688, "num_hidden_layers": 32,
              "num_attention_heads": 4, "num_key_value_heads": 4, "vocab_size": 32000}


class Job:
    """What plan_memory needs of a JobConfig: its recorded decisions."""

    def __init__(self, decided: dict[str, str] | None = None):
        self.decided = dict(decided or {})

    def record_decisions(self, decisions: dict[str, str]) -> None:
        self.decided.update(decisions)


def _setup(tmp_path, **hyperparameters: str) -> Setup:
    (tmp_path / "config.json").write_text(json.dumps(TINY_LLAMA))
    hp = parse_hyperparameters({"per_device_train_batch_size": "4", **hyperparameters})
    return Setup(hp=hp, card=None, device=CPU, bf16=True, model_dir=tmp_path, tokenizer=None, max_length=256,
                 remote_code={}, dist=Dist())


def _plan(tmp_path, monkeypatch, speedup: float, available_gib: float, job: Job | None = None,
          **hyperparameters: str) -> tuple[Setup, Job, str]:
    monkeypatch.setattr(attention, "eager_speedup", lambda shape, bf16: (speedup, False))
    monkeypatch.setattr(memory, "available_memory", lambda device_type: available_gib * memory.GiB)
    setup, job, lines = _setup(tmp_path, **hyperparameters), job or Job(), []
    plan_memory(setup, [Encoded(list(range(256)), list(range(256)))], lines.append, job)
    return setup, job, "\n".join(lines)


def _peaks(tmp_path) -> tuple[float, float]:
    """Estimated peak GiB of the tiny run with the default kernel and with eager attention (bf16, 4 x 256)."""
    setup = _setup(tmp_path)
    return tuple(memory_plan(setup, 256, eager).estimate.per_device / memory.GiB for eager in (False, True))


def test_eager_probabilities_are_counted_in_the_memory_estimate(tmp_path):
    default, eager = _peaks(tmp_path)
    layers, rows, heads, length = 32, 4, 4, 256
    extra = layers * rows * length * heads * length * (6 - 2) / memory.GiB  # 6 bytes each in bf16 instead of 2
    assert eager - default == pytest.approx(extra)


def test_plan_memory_trains_with_eager_attention_where_faster_and_memory_is_plentiful(tmp_path, monkeypatch):
    setup, job, log = _plan(tmp_path, monkeypatch, speedup=2.0, available_gib=64)
    assert setup.attention == "eager" and not setup.gradient_checkpointing
    assert job.decided["attention"] == "eager" and job.decided["eager_attention_speedup"] == "2.00"
    assert "attention: eager: eager attention ran forward and backward 2.00x as fast" in log


def test_config_json_is_read_and_counted_once_however_many_plans_the_choice_compares(tmp_path, monkeypatch):
    import transformers

    reads, builds = [], []
    real_read, real_build = transformers.AutoConfig.from_pretrained, memory._meta_model
    monkeypatch.setattr(transformers.AutoConfig, "from_pretrained",
                        lambda *a, **k: reads.append(a) or real_read(*a, **k))
    monkeypatch.setattr(memory, "_meta_model", lambda config: builds.append(config) or real_build(config))
    setup, _, _ = _plan(tmp_path, monkeypatch, speedup=2.0, available_gib=64)  # eager: three plans compared
    assert setup.attention == "eager"
    assert len(reads) == 1 and len(builds) == 1  # no card: the LoRA count needs no second meta model


def test_eager_gives_way_where_its_probabilities_would_need_gradient_checkpointing(tmp_path, monkeypatch):
    default, eager = _peaks(tmp_path)
    between = (default + eager) / 2 / memory.AUTO_CHECKPOINTING_SHARE  # the default fits, eager would not
    setup, job, log = _plan(tmp_path, monkeypatch, speedup=2.0, available_gib=between)
    assert setup.attention == "default" and not setup.gradient_checkpointing
    assert job.decided["attention_reason"] == ("default: eager attention measured 2.00x as fast, but its "
                                               "probabilities would need gradient checkpointing")

    asked, _, _ = _plan(tmp_path, monkeypatch, speedup=2.0, available_gib=between, attention="eager")
    assert asked.attention == "eager" and asked.gradient_checkpointing  # asked for: kept, and the plan adapts

    no_margin = eager / (memory.AUTO_CHECKPOINTING_SHARE + 0.01)  # fits, inside the margin auto keeps free
    setup, job, _ = _plan(tmp_path, monkeypatch, speedup=2.0, available_gib=no_margin, gradient_checkpointing="False")
    assert setup.attention == "default"
    assert job.decided["attention_reason"].endswith("would need more of the memory than gradient_checkpointing=auto "
                                                    "leaves free")


def test_a_resumed_job_keeps_the_kernel_it_started_with(tmp_path, monkeypatch):
    started = Job({"attention": "eager", "attention_reason": "eager: measured then"})
    setup, job, log = _plan(tmp_path, monkeypatch, speedup=0.5, available_gib=64, job=started)
    assert setup.attention == "eager" and "attention: eager (as this job started: eager: measured then)" in log
