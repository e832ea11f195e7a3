"""A task is added in one place: registered once, it runs end to end through start_job, the runner, the job
store, logs and metrics, with its own hyperparameters validated like every task's."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fmtune.catalog import DEFAULT_MODEL_ID
from fmtune.errors import ConfigError
from fmtune.jobs.layout import JobLayout
from fmtune.jobs.metrics import read_metrics
from fmtune.jobs.start import JobRequest, start_job
from fmtune.jobs.store import JobStore
from fmtune.jobs.views import log_lines
from fmtune.tasks import get_task

from ..conftest import REPO, SAMPLES
from ..support import echo_task


@pytest.fixture
def importable_tests(monkeypatch):
    """The echo recipe lives in tests/: its process must be able to import it."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p))


def test_a_registered_task_runs_end_to_end(importable_tests, tmp_path):
    assert get_task("echo") is echo_task.ECHO
    request = JobRequest(DEFAULT_MODEL_ID, {"training": SAMPLES / "domain" / "train.csv"}, {"lines": "4"},
                         job_name="echo-job", task="echo")
    job = start_job(request, detach=False)
    assert job.exit_code == 0
    record = JobStore().require("echo-job")
    assert record.status == "Completed"
    layout = JobLayout(Path(record.job_dir))
    assert [r["epoch"] for r in read_metrics(layout.metrics)] == [1, 2, 3, 4]
    lines = list(log_lines("echo-job"))
    assert lines[0].endswith("note: echo: 1 channel(s) to echo") and lines[-1].endswith("hello 4")
    assert job.config.hyperparameters == {"lines": "4", "word": "hello"}  # the task's schema, not the LLM one
    assert job.config.data_fingerprint and job.config.source["kind"] == "embedded"
    assert layout.has_model()


def test_its_hyperparameters_are_checked_with_structured_errors(tmp_path):
    request = JobRequest(DEFAULT_MODEL_ID, {"training": SAMPLES / "domain" / "train.csv"},
                         {"lines": "0", "word": "hi", "epoch": "3"}, job_name="echo-bad", task="echo")
    with pytest.raises(ConfigError) as info:
        start_job(request)
    assert [(d.key, d.value) for d in info.value.details] == [("lines", "0"), ("word", "hi"), ("epoch", "3")]
    assert "epoch: unknown hyperparameter" in info.value.details[2].message
    assert JobStore().get("echo-bad") is None  # nothing was started
