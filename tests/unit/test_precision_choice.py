"""precision=auto decided by timing the model's own shapes, cached per CPU; threads = physical cores."""

from __future__ import annotations

import json

import pytest
import torch

from fmtune.models import cpu, precision
from fmtune.models.precision import MIN_SPEEDUP, BlockTimings, precision_for
from fmtune.models.verdicts import cache_path
from tests.support.recording import recording

CPU = torch.device("cpu")


@pytest.fixture
def cache(home):
    return cache_path("precision.json")


def timings(fp32: float, bf16: float):
    return recording(BlockTimings(fp32=fp32, bf16=bf16))


def test_an_explicit_setting_is_used_without_timing_anything(cache, monkeypatch):
    monkeypatch.setattr(precision, "time_block", timings(1, 1))
    assert precision_for("bf16", CPU, (8, 32)).bf16 is True
    assert precision_for("fp32", CPU, (8, 32)).bf16 is False
    assert precision.time_block.calls == [] and not cache.exists()


def test_auto_picks_bf16_when_measured_faster_and_the_verdict_is_cached_per_cpu_torch_and_shape(cache, monkeypatch):
    monkeypatch.setattr(precision, "time_block", timings(fp32=2.0, bf16=1.0))
    first = precision_for("auto", CPU, (576, 1536))
    assert first.bf16 is True and first.speedup == 2.0
    assert "2.00x as fast as fp32" in first.reason and "measured now" in first.reason
    assert first.record() == {"precision": "bf16", "precision_reason": first.reason, "bf16_speedup": "2.00"}
    (key, verdict), = json.loads(cache.read_text()).items()
    assert cpu.cpu_model() in key and torch.__version__ in key and "576x1536" in key
    assert verdict == {"speedup": 2.0, "fp32": 2.0, "bf16": 1.0}

    again = precision_for("auto", CPU, (576, 1536))
    assert again.bf16 is True and "cached measurement" in again.reason
    assert precision.time_block.calls == [(576, 1536)]  # measured once
    precision_for("auto", CPU, (64, 256))
    assert precision.time_block.calls == [(576, 1536), (64, 256)]  # other shapes: measured again


def test_auto_keeps_fp32_when_bf16_is_not_fast_enough(cache, monkeypatch):
    monkeypatch.setattr(precision, "time_block", timings(fp32=1.0, bf16=1.0 / (MIN_SPEEDUP - 0.05)))
    choice = precision_for("auto", CPU, (16, 64))
    assert choice.bf16 is False and choice.record()["precision"] == "fp32"


def test_a_damaged_cache_is_measured_again(cache, monkeypatch):
    cache.parent.mkdir(parents=True)
    cache.write_text("{not json")
    monkeypatch.setattr(precision, "time_block", timings(fp32=3.0, bf16=1.0))
    assert precision_for("auto", CPU, (16, 64)).bf16 is True
    assert json.loads(cache.read_text())


def test_the_real_timing_runs_both_precisions_on_the_given_shapes():
    measured = precision.time_block(32, 128)
    assert measured.fp32 > 0 and measured.bf16 > 0


CPUINFO_2_SOCKETS_HT = [
    {"processor": str(i), "physical id": str(i // 4), "core id": str(i % 2), "model name": "Test CPU 9000"}
    for i in range(8)
]  # 2 sockets x 2 cores x 2 hyperthreads


def test_physical_cores_count_each_core_once_among_the_cpus_this_process_may_use(monkeypatch):
    monkeypatch.setattr(cpu, "_cpuinfo", lambda: CPUINFO_2_SOCKETS_HT)
    monkeypatch.setattr(cpu.os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)
    assert cpu.physical_cores() == 4 and cpu.cpu_model() == "Test CPU 9000"
    monkeypatch.setattr(cpu.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    assert cpu.physical_cores() == 2
    monkeypatch.setattr(cpu, "_cpuinfo", lambda: [])
    assert cpu.physical_cores() == 2  # no /proc/cpuinfo: the CPUs allowed


def test_threads_follow_physical_cores_unless_omp_num_threads_is_set(monkeypatch):
    before = torch.get_num_threads()
    monkeypatch.setattr(cpu, "physical_cores", lambda: 1)
    try:
        monkeypatch.setenv("OMP_NUM_THREADS", str(before))
        assert cpu.use_physical_cores() == f"{before} (OMP_NUM_THREADS)"
        assert torch.get_num_threads() == before
        monkeypatch.delenv("OMP_NUM_THREADS")
        assert cpu.use_physical_cores() == "1 (one per physical core)"
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
