"""Building jobs in tests the way front ends do: a JobRequest through fmtune.jobs.start."""

from __future__ import annotations

from typing import Any

from fmtune.jobs import start
from fmtune.jobs.config import JobConfig


def build_job(*args: Any, **kwargs: Any) -> JobConfig:
    """start.build_job(JobRequest(...)): the checks that need no data parsing."""
    return start.build_job(start.JobRequest(*args, **kwargs))


def prepare_job(*args: Any, **kwargs: Any) -> JobConfig:
    """Every check start_job makes (data included), without starting anything."""
    return start.prepare_job(start.JobRequest(*args, **kwargs))
