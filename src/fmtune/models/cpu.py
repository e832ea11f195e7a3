"""What the CPU is and how many threads a job's matmuls get."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import torch


def cpu_model() -> str:
    """The CPU's model name (Linux /proc/cpuinfo; elsewhere what platform reports)."""
    for block in _cpuinfo():
        if "model name" in block:
            return block["model name"]
    return platform.processor() or platform.machine() or "unknown CPU"


def physical_cores() -> int:
    """Cores this process may run on, counting each physical core once (two hyperthreads share one core's
    matmul units: a second thread per core only adds contention)."""
    allowed = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set(range(os.cpu_count() or 1))
    cores = {(block.get("physical id"), block.get("core id")) for block in _cpuinfo()
             if int(block.get("processor", -1)) in allowed and "core id" in block}
    return max(1, len(cores) or len(allowed))


def use_physical_cores() -> str:
    """Intra-op threads = physical cores, unless OMP_NUM_THREADS says otherwise; what to log."""
    if os.environ.get("OMP_NUM_THREADS"):
        return f"{torch.get_num_threads()} (OMP_NUM_THREADS)"
    cores = physical_cores()
    if torch.get_num_threads() != cores:
        torch.set_num_threads(cores)
    return f"{cores} (one per physical core)"


def _cpuinfo() -> list[dict[str, str]]:
    """/proc/cpuinfo as one dict per logical CPU; empty where there is none."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    blocks = []
    for chunk in text.strip().split("\n\n"):
        fields = (line.split(":", 1) for line in chunk.splitlines() if ":" in line)
        blocks.append({key.strip(): value.strip() for key, value in fields})
    return blocks
