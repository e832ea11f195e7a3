"""Crash safety for real: kill -9 mid-epoch, resume, and get the same result as an uninterrupted run.

The recipe runs as the runner starts it (its own process, signalled from outside) on a tiny Llama 2: what a
checkpoint holds (adapter, optimizer, scheduler, RNG, data position) does not depend on the model's size. The
embedded model is killed and resumed through the CLI in test_jobs_training.py."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from safetensors.torch import load_file

from fmtune.jobs.layout import JobLayout
from fmtune.training.checkpoint import COMPLETE_MARKER

from ..conftest import SAMPLES
from ..jobs_support import build_job

pytestmark = pytest.mark.slow

# 2 epochs of 32 steps: after the first checkpoint (step 3) seconds of training are left to be killed in.
SETTINGS = {
    "instruction_tuned": "True", "epoch": "2", "max_train_samples": "64", "max_val_samples": "8",
    "max_input_length": "128", "per_device_train_batch_size": "2", "per_device_eval_batch_size": "8",
    "checkpoint_steps": "3", "learning_rate": "0.0005", "packing": "False",
}
TOLERANCE = 1e-5  # same seed, same data order, same RNG: differences are only float reordering (none seen)


def start(job_dir: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "fmtune.recipes.causal_lm", "--job-dir", str(job_dir), *extra],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


def new_job(root: Path, name: str) -> Path:
    job = build_job(
        "meta-textgeneration-llama-2-7b",
        {"training": SAMPLES / "instruction" / "train", "validation": SAMPLES / "instruction" / "validation"},
        SETTINGS, job_name=name, output_dir=root / name, accept_eula=True, tiny_random=True,
    )
    Path(job.job_dir).mkdir(parents=True)
    job.save(JobLayout(Path(job.job_dir)).config)
    return Path(job.job_dir)


def checkpoint_dirs(job_dir: Path) -> list[Path]:
    folder = job_dir / "checkpoints"
    return [p for p in folder.iterdir() if p.name.startswith("step-")] if folder.exists() else []


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    job_dir = new_job(tmp_path_factory.mktemp("resume"), "straight")
    assert start(job_dir).wait(timeout=900) == 0, (job_dir / "logs.txt").read_text()
    return job_dir


def test_kill_9_mid_epoch_then_resume_matches_an_uninterrupted_run(tmp_path, uninterrupted):
    job_dir = new_job(tmp_path, "killed")
    process = start(job_dir)
    deadline = time.monotonic() + 300
    # Wait for the first step checkpoint (step 3 of 32 in epoch 1), checking that no visible
    # checkpoint is ever half-written, then kill without warning.
    while time.monotonic() < deadline:
        visible = checkpoint_dirs(job_dir)
        assert all((p / COMPLETE_MARKER).exists() for p in visible), visible
        if visible:
            break
        assert process.poll() is None, (job_dir / "logs.txt").read_text()
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=60)
    assert not (job_dir / "model").exists(), "the job finished before it could be killed"
    assert JobLayout(job_dir).status()["status"] == "InProgress"  # what kill -9 leaves behind

    assert start(job_dir, "--resume").wait(timeout=900) == 0, (job_dir / "logs.txt").read_text()
    log = (job_dir / "logs.txt").read_text()
    assert "resumed from step-" in log

    expected = load_file(uninterrupted / "adapter" / "adapter_model.safetensors")
    actual = load_file(job_dir / "adapter" / "adapter_model.safetensors")
    assert expected.keys() == actual.keys()
    worst = max((expected[k] - actual[k]).abs().max().item() for k in expected)
    assert worst <= TOLERANCE, f"adapter differs by {worst}"
    # the loss curve: one record per optimizer step, each step once, the same losses as the uninterrupted run
    straight_steps = [json.loads(x) for x in (uninterrupted / "steps.jsonl").read_text().splitlines()]
    resumed_steps = [json.loads(x) for x in (job_dir / "steps.jsonl").read_text().splitlines()]
    assert [r["step"] for r in resumed_steps] == list(range(1, 65)) == [r["step"] for r in straight_steps]
    assert {r["total_steps"] for r in resumed_steps} == {64}  # the plan, the same before and after the kill
    for a, b in zip(straight_steps, resumed_steps, strict=True):
        assert a["epoch"] == b["epoch"] and abs(a["loss"] - b["loss"]) <= TOLERANCE
    straight = [json.loads(x) for x in (uninterrupted / "metrics.jsonl").read_text().splitlines()]
    resumed = [json.loads(x) for x in (job_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in resumed] == [0, 1, 2]
    for a, b in zip(straight, resumed, strict=True):
        assert abs(a["eval_loss"] - b["eval_loss"]) <= TOLERANCE
        assert (a["train_loss"] is None) == (b["train_loss"] is None)
        if a["train_loss"] is not None:
            assert abs(a["train_loss"] - b["train_loss"]) <= TOLERANCE


def wait_for_log(job_dir: Path, process: subprocess.Popen, text: str) -> None:
    deadline = time.monotonic() + 300
    log = job_dir / "logs.txt"
    while text not in (log.read_text() if log.exists() else ""):
        assert process.poll() is None and time.monotonic() < deadline, log.read_text() if log.exists() else ""
        time.sleep(0.05)


def test_sigterm_mid_training_saves_a_checkpoint_past_the_last_one(tmp_path):
    job_dir = new_job(tmp_path, "stopped")
    process = start(job_dir)
    # Signal only once training is known to be under way (the first step checkpoint exists): on a slow
    # machine a fixed sleep can land in loading, where there is nothing to save (tested below).
    wait_for_log(job_dir, process, "checkpoint step-")
    seen = max(checkpoint_dirs(job_dir))
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=120) == 128 + signal.SIGTERM
    assert JobLayout(job_dir).status()["status"] == "Stopped"
    newest = max(checkpoint_dirs(job_dir))
    assert newest > seen and (newest / COMPLETE_MARKER).exists(), (seen, newest)
    log = (job_dir / "logs.txt").read_text()
    assert "stopped by SIGTERM; checkpoint saved" in log, log


def test_sigterm_before_the_first_step_stops_with_nothing_to_save(tmp_path):
    job_dir = new_job(tmp_path, "early")
    process = start(job_dir)
    # The first log line comes after the signal handler is installed and seconds before the model is loaded.
    wait_for_log(job_dir, process, "\n")
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=120) == 128 + signal.SIGTERM
    assert JobLayout(job_dir).status()["status"] == "Stopped"
    assert not checkpoint_dirs(job_dir)
    assert "stopped before the first training step" in (job_dir / "logs.txt").read_text()
